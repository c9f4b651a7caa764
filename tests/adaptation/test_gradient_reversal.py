"""GradientReversal: identity forward, -lambda x gradient, in-graph schedule."""

import math

import keras
import numpy as np
import pytest

from keras_transfer.adaptation import GradientReversal


def _paper_lambda(step, total, max_lambda=1.0, gamma=10.0):
    p = min(step / total, 1.0)
    return max_lambda * (2.0 / (1.0 + math.exp(-gamma * p)) - 1.0)


def _pair(reversal):
    """x -> Dense f (features) -> [GradientReversal] -> Dense h, fixed weights."""
    inp = keras.Input((3,))
    x = keras.layers.Dense(2, use_bias=False, name="f")(inp)
    if reversal is not None:
        x = reversal(x)
    out = keras.layers.Dense(1, use_bias=False, name="h", dtype="float32")(x)
    model = keras.Model(inp, out)
    model.get_layer("f").set_weights([np.arange(6, dtype="float32").reshape(3, 2) / 10])
    model.get_layer("h").set_weights([np.array([[0.5], [-1.0]], "float32")])
    return model


def _one_sgd_step(model, jit_compile):
    model.compile(keras.optimizers.SGD(0.1), "mse", jit_compile=jit_compile)
    before = {n: model.get_layer(n).get_weights()[0].copy() for n in ("f", "h")}
    x = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]], "float32")
    model.fit(x, np.array([[1.0], [-2.0]], "float32"), batch_size=2, verbose=0)
    return {n: model.get_layer(n).get_weights()[0] - before[n] for n in ("f", "h")}


@pytest.mark.parametrize("jit_compile", [False, True])
@pytest.mark.parametrize("step, total", [(0, 100), (25, 100), (100, 100), (300, 100)])
def test_gradient_is_minus_lambda_times_plain_gradient(step, total, jit_compile):
    grl = GradientReversal(schedule_steps=total)
    grl.step.assign(step)
    reversed_update = _one_sgd_step(_pair(grl), jit_compile)
    plain_update = _one_sgd_step(_pair(None), jit_compile)
    lam = _paper_lambda(step, total)
    # Layers after the reversal train exactly as without it ...
    np.testing.assert_array_equal(reversed_update["h"], plain_update["h"])
    # ... layers before it get the gradient multiplied by -lambda.
    np.testing.assert_allclose(
        reversed_update["f"], -lam * plain_update["f"], rtol=1e-5, atol=1e-9
    )
    assert int(keras.ops.convert_to_numpy(grl.step)) == step + 1


def test_constant_lambda_without_schedule():
    grl = GradientReversal(max_lambda=0.3)
    reversed_update = _one_sgd_step(_pair(grl), False)
    plain_update = _one_sgd_step(_pair(None), False)
    np.testing.assert_allclose(
        reversed_update["f"], -0.3 * plain_update["f"], rtol=1e-5
    )


def test_forward_is_exactly_identity_and_counter_moves_only_in_training():
    grl = GradientReversal(schedule_steps=10)
    x = np.random.default_rng(0).normal(size=(4, 5)).astype("float32") * 1e3
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(grl(x, training=True)), x)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(grl(x)), x)
    assert int(keras.ops.convert_to_numpy(grl.step)) == 1
    model = keras.Sequential([keras.Input((5,)), grl, keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    model.fit(x, np.zeros((4, 1)), batch_size=2, epochs=2, verbose=0)  # 4 steps
    model.evaluate(x, np.zeros((4, 1)), verbose=0)
    model.predict(x, verbose=0)
    assert int(keras.ops.convert_to_numpy(grl.step)) == 5
    assert float(grl.current_lambda()) == pytest.approx(_paper_lambda(5, 10), rel=1e-6)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision(policy):
    keras.config.set_dtype_policy(policy)
    grl = GradientReversal(max_lambda=0.5)
    reversed_update = _one_sgd_step(_pair(grl), False)
    keras.config.set_dtype_policy(policy)
    plain_update = _one_sgd_step(_pair(None), False)
    np.testing.assert_allclose(
        reversed_update["f"], -0.5 * plain_update["f"], rtol=2e-2, atol=1e-4
    )
    assert grl.compute_dtype == keras.config.dtype_policy().compute_dtype


def test_config(config_round_trip):
    restored = config_round_trip(
        GradientReversal(max_lambda=0.7, schedule_steps=50, gamma=5.0, name="grl")
    )
    assert (restored.max_lambda, restored.schedule_steps, restored.gamma) == (
        0.7,
        50,
        5.0,
    )


def test_keras_save_load_keeps_the_step(tmp_path):
    model = keras.Sequential(
        [
            keras.Input((3,)),
            GradientReversal(schedule_steps=8, name="grl"),
            keras.layers.Dense(1),
        ]
    )
    model.get_layer("grl").step.assign(6)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    grl = loaded.get_layer("grl")
    assert isinstance(grl, GradientReversal)
    assert int(keras.ops.convert_to_numpy(grl.step)) == 6
    assert float(grl.current_lambda()) == pytest.approx(_paper_lambda(6, 8), rel=1e-6)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"max_lambda": -1.0}, "`max_lambda`"),
        ({"schedule_steps": 0}, "`schedule_steps`"),
        ({"schedule_steps": 2.5}, "`schedule_steps`"),
        ({"gamma": 0.0}, "`gamma`"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GradientReversal(**kwargs)
