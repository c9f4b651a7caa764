"""LayerwiseLR keeps each feature of the wrapped optimizer, on every backend.

With every multiplier 1 the wrapper must be bit-identical to the wrapped
optimizer alone; with a multiplier per group, each group must move exactly
as under its own copy of the optimizer at `lr * m` (the reference for all but
`global_clipnorm`, whose norm is then the group's).
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_transfer.optimizers import LayerwiseLR

FEATURES = {
    "clipnorm": {"clipnorm": 0.5},
    "clipvalue": {"clipvalue": 0.2},
    "global_clipnorm": {"global_clipnorm": 0.5},
    "ema_overwrite": {
        "use_ema": True,
        "ema_momentum": 0.7,
        "ema_overwrite_frequency": 2,
    },
    "accumulation": {"gradient_accumulation_steps": 2},
    "loss_scale_factor": {"loss_scale_factor": 4.0},
    "weight_decay": {"weight_decay": 0.1},
}


def _make(features, lr=0.05, exclude=False):
    opt = keras.optimizers.AdamW(lr, **{"weight_decay": 0.0, **features})
    if exclude:
        opt.exclude_from_weight_decay(var_names=["bias"])
    return opt


def _variables(tag):
    rng = np.random.default_rng(3)
    return [
        keras.Variable(rng.normal(size=(3, 2)).astype("float32"), name=f"body_{tag}"),
        keras.Variable(rng.normal(size=(2,)).astype("float32"), name=f"bias_{tag}"),
        keras.Variable(rng.normal(size=(2,)).astype("float32"), name=f"head_{tag}"),
    ]


def _grads(step):
    rng = np.random.default_rng(10 + step)
    shapes = [(3, 2), (2,), (2,)]
    return [
        keras.ops.convert_to_tensor(rng.normal(size=s).astype("float32"))
        for s in shapes
    ]


def _np(x):
    return np.array(keras.ops.convert_to_numpy(x))


@pytest.mark.parametrize("exclude", [False, True], ids=["", "exclude_bias"])
@pytest.mark.parametrize("feature", list(FEATURES))
def test_every_multiplier_one_is_bit_identical_to_the_wrapped_optimizer(
    feature, exclude
):
    features = FEATURES[feature]
    plain_vars, wrapped_vars = _variables("p"), _variables("w")
    plain = _make(features, exclude=exclude)
    wrapped = LayerwiseLR(_make(features, exclude=exclude), {"body": 1.0})
    for step in range(4):
        plain.apply(_grads(step), plain_vars)
        wrapped.apply(_grads(step), wrapped_vars)
    plain.finalize_variable_values(plain_vars)
    wrapped.finalize_variable_values(wrapped_vars)
    for p, w in zip(plain_vars, wrapped_vars):
        assert _np(p).tobytes() == _np(w).tobytes(), (feature, p.name)
    assert int(_np(wrapped.iterations)) == int(_np(plain.iterations))


@pytest.mark.parametrize("feature", [f for f in FEATURES if f != "global_clipnorm"])
def test_each_group_moves_as_its_own_optimizer_at_the_scaled_rate(feature):
    features = FEATURES[feature]
    variables, ref_vars = _variables("w"), _variables("r")
    wrapped = LayerwiseLR(_make(features, exclude=True), {"body": 0.25, "bias": 0.5})
    # The bias is excluded from weight decay: its reference decays nothing
    # (a torch optimizer fails on a decay call with every variable excluded).
    refs = [
        _make(features, 0.05 * 0.25),
        _make(features, 0.05 * 0.5),
        _make(features, 0.05),
    ]
    refs[1].weight_decay = None
    for step in range(4):
        grads = _grads(step)
        wrapped.apply(grads, variables)
        for ref, g, v in zip(refs, grads, ref_vars):
            ref.apply([g], [v])
    wrapped.finalize_variable_values(variables)
    for ref, v in zip(refs, ref_vars):
        ref.finalize_variable_values([v])
    for w, r in zip(variables, ref_vars):
        np.testing.assert_allclose(
            _np(w), _np(r), rtol=1e-6, atol=1e-7, err_msg=feature
        )
    moved = [
        np.abs(_np(w) - _np(v0)).max() for w, v0 in zip(variables, _variables("0"))
    ]
    assert min(moved) > 1e-4, moved
