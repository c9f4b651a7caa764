"""LayerwiseLR: per-variable arithmetic, pass-through, rules, errors, config."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest

from keras_transfer import layer_groups
from keras_transfer.optimizers import LayerwiseLR
from keras_transfer.schedules import SlantedTriangular


def _variables():
    """Two standalone variables: `body_w` (3x2) and `head_w` (2,)."""
    rng = np.random.default_rng(1)
    body = keras.Variable(rng.normal(size=(3, 2)).astype("float32"), name="body_w")
    head = keras.Variable(rng.normal(size=(2,)).astype("float32"), name="head_w")
    return body, head


def _grads(step: int):
    rng = np.random.default_rng(100 + step)
    return [
        keras.ops.convert_to_tensor(rng.normal(size=(3, 2)).astype("float32")),
        keras.ops.convert_to_tensor(rng.normal(size=(2,)).astype("float32")),
    ]


def _np(x):
    return np.array(keras.ops.convert_to_numpy(x))


def _sgd_step(w, g, lr):
    """`w - lr * g` in float32, rounded as the backend's SGD rounds it."""
    if keras.backend.backend() == "torch":
        # torch._foreach_add_(w, g, alpha=-lr): one fused multiply-add.
        exact = w.astype("float64") - g.astype("float64") * np.float64(lr)
        return exact.astype("float32")
    return w - g * lr


@pytest.mark.parametrize("m", [0.5, 0.25, 2.0, 0.0])
def test_sgd_step_is_lr_times_multiplier_times_grad_exactly(m):
    body, head = _variables()
    body0, head0 = _np(body), _np(head)
    opt = LayerwiseLR(keras.optimizers.SGD(0.1), {"body": m})
    grads = _grads(0)
    opt.apply(grads, [body, head])
    lr_m = np.float32(0.1) * np.float32(m)  # exact: powers of two
    np.testing.assert_array_equal(_np(body), _sgd_step(body0, _np(grads[0]), lr_m))
    np.testing.assert_array_equal(
        _np(head), _sgd_step(head0, _np(grads[1]), np.float32(0.1))
    )
    assert int(_np(opt.iterations)) == 1


@pytest.mark.parametrize(
    "make",
    [
        lambda lr: keras.optimizers.Adam(lr),
        lambda lr: keras.optimizers.AdamW(lr, weight_decay=0.1),
        lambda lr: keras.optimizers.SGD(lr, momentum=0.9, nesterov=True),
        lambda lr: keras.optimizers.RMSprop(lr),
        lambda lr: keras.optimizers.Lion(lr, weight_decay=0.05),
        lambda lr: keras.optimizers.Nadam(lr),
    ],
    ids=["adam", "adamw", "sgd_nesterov", "rmsprop", "lion_wd", "nadam"],
)
def test_equals_separate_optimizers_at_scaled_rates(make):
    """A separate optimizer at `lr * m` per variable group is the reference."""
    lr, m = 0.01, 0.3
    body, head = _variables()
    ref_body = keras.Variable(_np(body), name="ref_body")
    ref_head = keras.Variable(_np(head), name="ref_head")
    opt = LayerwiseLR(make(lr), {"body": m})
    ref_low, ref_top = make(lr * m), make(lr)
    for step in range(5):
        grads = _grads(step)
        opt.apply(grads, [body, head])
        ref_low.apply(grads[:1], [ref_body])
        ref_top.apply(grads[1:], [ref_head])
    np.testing.assert_allclose(_np(body), _np(ref_body), rtol=2e-6, atol=1e-7)
    np.testing.assert_allclose(_np(head), _np(ref_head), rtol=2e-6, atol=1e-7)
    assert not np.allclose(_np(body), _np(ref_head)[None, :2].repeat(3, 0))


def test_adamw_multiplier_zero_leaves_variable_and_slots_bit_identical():
    body, head = _variables()
    body0, head0 = _np(body), _np(head)
    inner = keras.optimizers.AdamW(0.1, weight_decay=0.5)
    opt = LayerwiseLR(inner, {"body": 0.0})
    for step in range(3):
        opt.apply(_grads(step), [body, head])
    assert _np(body).tobytes() == body0.tobytes()
    assert not np.allclose(_np(head), head0)
    body_slots = [v for v in inner.variables if "body_w" in v.path]
    assert body_slots and all(not _np(v).any() for v in body_slots)


def test_decoupled_weight_decay_uses_the_scaled_rate():
    body, head = _variables()
    body0, head0 = _np(body), _np(head)
    opt = LayerwiseLR(keras.optimizers.SGD(0.1, weight_decay=0.5), {"body": 0.5})
    zeros = [keras.ops.zeros(body.shape), keras.ops.zeros(head.shape)]
    opt.apply(zeros, [body, head])
    np.testing.assert_allclose(_np(body), body0 * (1 - 0.5 * 0.05), rtol=1e-6)
    np.testing.assert_allclose(_np(head), head0 * (1 - 0.5 * 0.1), rtol=1e-6)


def test_gradient_accumulation_of_the_inner_optimizer_keeps_working():
    body, head = _variables()
    body0 = _np(body)
    inner = keras.optimizers.SGD(0.1, gradient_accumulation_steps=2)
    opt = LayerwiseLR(inner, {"body": 0.5})
    g0, g1 = _grads(0), _grads(1)
    opt.apply(g0, [body, head])
    np.testing.assert_array_equal(_np(body), body0)
    opt.apply(g1, [body, head])
    expected = body0 - np.float32(0.05) * (_np(g0[0]) + _np(g1[0])) / 2
    np.testing.assert_allclose(_np(body), expected, rtol=1e-6)
    assert int(_np(opt.iterations)) == 1  # accumulated steps, as the inner one


def test_clipnorm_of_the_inner_optimizer_clips_before_scaling():
    body, head = _variables()
    body0 = _np(body)
    opt = LayerwiseLR(keras.optimizers.SGD(0.1, clipnorm=1.0), {"body": 0.5})
    g = np.full((3, 2), 10.0, "float32")
    opt.apply([keras.ops.convert_to_tensor(g), _grads(0)[1]], [body, head])
    clipped = g / np.linalg.norm(g)
    np.testing.assert_allclose(_np(body), body0 - 0.05 * clipped, rtol=1e-6)


def test_learning_rate_and_iterations_pass_through():
    inner = keras.optimizers.Adam(0.01)
    opt = LayerwiseLR(inner, {"body": 0.5})
    assert float(_np(opt.learning_rate)) == pytest.approx(0.01)
    opt.learning_rate = 0.002
    assert float(_np(inner.learning_rate)) == pytest.approx(0.002)
    assert opt.iterations is inner.iterations
    body, head = _variables()
    opt.apply(_grads(0), [body, head])
    assert int(_np(inner.iterations)) == 1
    assert all(any(v is w for w in opt.variables) for v in inner.variables)


def test_schedule_inside_is_evaluated_at_the_inner_iterations():
    schedule = SlantedTriangular(0.01, total_steps=20)
    opt = LayerwiseLR(keras.optimizers.SGD(schedule), {"body": 0.5})
    body, head = _variables()
    for step in range(3):
        opt.apply(_grads(step), [body, head])
    assert float(_np(opt.learning_rate)) == pytest.approx(float(_np(schedule(3))))
    with pytest.raises(TypeError, match="LearningRateSchedule"):
        opt.learning_rate = 0.1


def test_decay_over_layer_groups_top_group_first():
    inner_model = keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(4, name="block1_dense"),
            keras.layers.Dense(4, name="block2_dense"),
        ],
        name="backbone",
    )
    model = keras.Sequential([inner_model, keras.layers.Dense(1, name="head")])
    opt = LayerwiseLR(
        keras.optimizers.SGD(0.1), {"block1.*bias": 0.0}, decay=0.5, model=model
    )
    resolved = opt.resolved_multipliers(model)
    by_layer = {
        path.split("/")[-2] + "/" + path.split("/")[-1]: m
        for path, m in resolved.items()
    }
    assert by_layer == {
        "block1_dense/kernel": 0.25,
        "block1_dense/bias": 0.0,  # an explicit pattern wins over decay
        "block2_dense/kernel": 0.5,
        "block2_dense/bias": 0.5,
        "head/kernel": 1.0,
        "head/bias": 1.0,
    }
    assert "decay: group 'block2' (depth 1)" in opt.multiplier_table(model)
    # The config holds plain data only: exact paths, no model, no groups.
    config = opt.get_config()
    assert config["decay"] is None and "model" not in config
    assert sorted(config["path_multipliers"].values()) == [
        0.25,
        0.25,
        0.5,
        0.5,
        1.0,
        1.0,
    ]
    rebuilt = LayerwiseLR.from_config(config)
    assert rebuilt.resolved_multipliers(model) == resolved


def test_decay_with_explicit_groups(make_model):
    model = make_model()
    groups = layer_groups(model, spec={"top": ["head"], "low": ["body"]})
    opt = LayerwiseLR("sgd", decay=0.1, groups=groups)
    assert list(opt.resolved_multipliers(model).values()) == [0.1, 0.1, 1.0, 1.0]
    spec_opt = LayerwiseLR("sgd", decay=0.1, model=model, groups=[["head"], ["body"]])
    assert spec_opt.resolved_multipliers(model) == opt.resolved_multipliers(model)


def test_callable_multipliers_resolve_per_variable_and_refuse_serialization():
    body, head = _variables()
    body0 = _np(body)
    opt = LayerwiseLR(
        keras.optimizers.SGD(0.1), lambda v: 0.0 if "body" in v.path else 1.0
    )
    opt.apply(_grads(0), [body, head])
    np.testing.assert_array_equal(_np(body), body0)
    assert "callable" in opt.multiplier_table()
    with pytest.raises(TypeError, match="callable `multipliers` cannot be serialized"):
        opt.get_config()


def test_multiplier_table_lists_paths_rules_and_unmatched_patterns(make_model):
    model = make_model()
    with pytest.warns(UserWarning, match="HINT"):
        opt = LayerwiseLR(
            "adam", {"^tiny/body/": 0.1, "nothing_here": 3.0}, model=model
        )
    table = opt.multiplier_table(model)
    lines = table.splitlines()
    assert lines[0].split() == ["variable", "path", "multiplier", "rule"]
    row = next(line for line in lines if line.startswith("tiny/body/kernel"))
    assert row.split()[1] == "0.1" and "'^tiny/body/'" in row
    assert "tiny/head/bias" in table and "default" in table
    assert "patterns matching no variable: ['nothing_here']" in table


def test_warns_at_build_for_a_pattern_matching_no_variable():
    body, head = _variables()
    opt = LayerwiseLR("sgd", {"body": 0.5, "typo_layer": 0.1})
    with pytest.warns(UserWarning, match=r"\['typo_layer'\].*HINT"):
        opt.build([body, head])
    quiet = LayerwiseLR("sgd", {"typo_layer": 0.1}, warn_unmatched=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        quiet.build([body, head])


def test_model_checks_patterns_against_frozen_weights_too(make_model):
    model = make_model(frozen_body=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt = LayerwiseLR("sgd", {"body": 0.5}, model=model)
        opt.build(model.trainable_variables)  # body is frozen: no warning
    assert opt.get_config()["warn_unmatched"] is False


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (
            {"multipliers": {"body": -0.5}},
            ValueError,
            r"`multipliers`.*Received: multipliers\['body'\]=-0.5",
        ),
        ({"multipliers": {"body": float("nan")}}, ValueError, r"finite and >= 0"),
        (
            {"multipliers": {"body": "0.5"}},
            TypeError,
            r"Received: multipliers\['body'\]='0.5'",
        ),
        (
            {"multipliers": {"body[": 0.5}},
            ValueError,
            r"`multipliers` key 'body\[' is not a valid regular",
        ),
        ({"multipliers": {3: 0.5}}, TypeError, r"`multipliers` keys must be"),
        ({"multipliers": 0.5}, TypeError, r"Received: multipliers=0.5"),
        ({"decay": -1.0}, ValueError, r"`decay` must be.*Received: decay=-1.0"),
        ({"decay": 0.5}, ValueError, r"`decay` needs.*model=None"),
        ({"groups": [["head"]]}, ValueError, r"`groups` is only used with `decay`"),
        (
            {"path_multipliers": {"a/b": -1}},
            ValueError,
            r"path_multipliers\['a/b'\]=-1",
        ),
    ],
)
def test_bad_arguments_raise_naming_the_argument(kwargs, error, message):
    with pytest.raises(error, match=message):
        LayerwiseLR(keras.optimizers.SGD(0.1), **kwargs)


@pytest.mark.parametrize(
    "optimizer, message",
    [
        (0.1, r"`optimizer` must be a Keras optimizer.*Received: optimizer=0.1"),
        (keras.layers.Dense, r"`optimizer` must be a Keras optimizer"),
        ("not_an_optimizer", r"`optimizer` could not be resolved.*not_an_optimizer"),
        (
            keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD()),
            r"not a wrapper.*LossScaleOptimizer",
        ),
    ],
)
def test_bad_optimizer_raises(optimizer, message):
    with pytest.raises((TypeError, ValueError), match=message):
        LayerwiseLR(optimizer)


def test_optimizer_not_using_update_step_still_gets_scaled_rates():
    """Nothing relies on `update_step`: each group's twin gets `lr * m`."""

    class Bypass(keras.optimizers.SGD):
        def _backend_update_step(self, grads, trainable_variables, learning_rate):
            for g, v in zip(grads, trainable_variables, strict=True):
                v.assign_sub(g * learning_rate)

    body, head = _variables()
    body0, head0 = _np(body), _np(head)
    grads = _grads(0)
    LayerwiseLR(Bypass(0.1), {"body": 0.5}).apply(grads, [body, head])
    np.testing.assert_array_equal(_np(body), body0 - _np(grads[0]) * np.float32(0.05))
    np.testing.assert_array_equal(_np(head), head0 - _np(grads[1]) * np.float32(0.1))


@pytest.mark.skipif(
    keras.backend.backend() != "jax", reason="stateless_apply is JAX's path"
)
def test_stateless_apply_matches_apply():
    body, head = _variables()
    twin_body, twin_head = (keras.Variable(_np(v), name=v.name) for v in (body, head))
    stateful = LayerwiseLR(keras.optimizers.Adam(0.01), {"body_w": 0.25})
    stateless = LayerwiseLR(keras.optimizers.Adam(0.01), {"body_w": 0.25})
    stateless.build([twin_body, twin_head])
    values = [v.value for v in stateless.variables]
    trainable = [twin_body.value, twin_head.value]
    for step in range(3):
        stateful.apply(_grads(step), [body, head])
        trainable, values = stateless.stateless_apply(values, _grads(step), trainable)
    np.testing.assert_allclose(_np(trainable[0]), _np(body), rtol=1e-6)
    np.testing.assert_allclose(_np(trainable[1]), _np(head), rtol=1e-6)
    assert len(values) == len(stateless.variables)


@pytest.mark.parametrize(
    "make",
    [
        lambda: LayerwiseLR(keras.optimizers.Adam(1e-3), {"body": 0.5, "^x$": 0.0}),
        lambda: LayerwiseLR(
            keras.optimizers.AdamW(SlantedTriangular(0.01, 50)),
            path_multipliers={"tiny/body/kernel": 0.1},
            warn_unmatched=False,
            name="lw",
        ),
    ],
)
def test_config(config_round_trip, make):
    opt = make()
    restored = config_round_trip(opt)
    assert restored.resolved_multipliers([]) == {}
    again = keras.optimizers.deserialize(keras.optimizers.serialize(opt))
    assert type(again) is LayerwiseLR
    assert type(again.inner_optimizer) is type(opt.inner_optimizer)
    assert again.get_config() == opt.get_config()
