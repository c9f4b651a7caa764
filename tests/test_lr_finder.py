"""Tests for `keras_transfer.lr_find`: known answers and an exact restore."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_transfer.callbacks import GradualUnfreeze
from keras_transfer.lr_finder import lr_find
from keras_transfer.optimizers import LayerwiseLR

L = 4.0  # largest Hessian eigenvalue of the least-squares problems below


def _least_squares(spread, n=64, d=8, seed=0):
    """Inputs whose MSE Hessian is diag(L * geomspace(spread, 1, d))."""
    rng = np.random.default_rng(seed)
    eigenvalues = L * np.geomspace(spread, 1.0, d)
    q, _ = np.linalg.qr(rng.normal(size=(n, d)))
    x = (q * np.sqrt(n * eigenvalues / 2)).astype("float32")
    hessian = 2 / n * x.astype("float64").T @ x
    np.testing.assert_allclose(np.linalg.eigvalsh(hessian).max(), L, rtol=1e-5)
    y = (x @ rng.normal(size=(d, 1)) + 0.1 * rng.normal(size=(n, 1))).astype("float32")
    return x, y


def _linear(d=8):
    model = keras.Sequential(
        [
            keras.Input((d,)),
            keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros"),
        ]
    )
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    return model


@pytest.mark.parametrize("spread", [1.0, 0.1, 0.01])
@pytest.mark.parametrize("steps", [50, 100])
def test_least_squares_suggestion_below_the_stability_edge(spread, steps):
    # Full-batch SGD on a quadratic diverges above 2 / L: the suggestion
    # must be below that and within a factor of 10 of it.
    x, y = _least_squares(spread)
    result = lr_find(_linear(), x, y, steps=steps, batch_size=len(x))
    assert result.stopped_early
    assert 0.2 / L < result.suggestion < 2 / L, result


def test_least_squares_sgd_really_diverges_above_the_edge():
    # The known answer itself (full-batch gradient descent, in float64):
    # 2 / L splits converging from diverging SGD.
    x, y = _least_squares(0.1)
    x, y = x.astype("float64"), y.astype("float64")
    final = {}
    for factor in (0.9, 1.1):
        w = np.zeros((x.shape[1], 1))
        for _ in range(200):
            w -= factor * 2 / L * (2 / len(x)) * x.T @ (x @ w - y)
        final[factor] = np.mean((x @ w - y) ** 2)
    start = np.mean(y**2)
    assert final[0.9] < 0.1 * start and final[1.1] > 10 * start


def test_exported_as_kt_lr_find():
    import keras_transfer as kt

    assert kt.lr_find is lr_find


def _classifier_data(seed=0, n=64):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=2.0, size=(3, 6))
    labels = np.arange(n) % 3
    x = (centers[labels] + rng.normal(size=(n, 6))).astype("float32")
    return x, labels.astype("int32")


def _classifier(learning_rate=1e-3):
    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(3),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def test_tiny_classifier_trains_best_at_the_suggestion():
    x, y = _classifier_data()
    suggestion = lr_find(
        _classifier(), x, y, min_lr=1e-5, max_lr=100.0, steps=60, batch_size=16
    ).suggestion
    final = {}
    for factor in (0.01, 1.0, 100.0):
        model = _classifier(suggestion * factor)
        history = model.fit(x, y, batch_size=16, epochs=5, verbose=0, shuffle=False)
        loss = history.history["loss"][-1]
        final[factor] = loss if np.isfinite(loss) else np.inf
    assert final[1.0] < final[0.01] and final[1.0] < final[100.0], (suggestion, final)


def _values(variables):
    return [keras.ops.convert_to_numpy(v).copy() for v in variables]


def _assert_bit_identical(before, after):
    assert len(before) == len(after)
    for a, b in zip(before, after):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)


def _bn_dropout_model(optimizer):
    keras.utils.set_random_seed(2)
    model = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(8),
            keras.layers.BatchNormalization(),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(3),
        ]
    )
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


@pytest.mark.parametrize(
    "make_optimizer",
    [
        lambda: keras.optimizers.Adam(1e-3),
        lambda: LayerwiseLR(keras.optimizers.Adam(1e-3), {"dense_1": 0.1}),
        lambda: keras.optimizers.SGD(
            keras.optimizers.schedules.ExponentialDecay(0.05, 10, 0.5), momentum=0.9
        ),
    ],
    ids=["adam", "layerwise", "schedule"],
)
def test_restores_weights_and_optimizer_state_bit_identically(make_optimizer):
    x, y = _classifier_data()
    model = _bn_dropout_model(make_optimizer())
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
    variables = list(model.variables) + list(model.optimizer.variables)
    before = _values(variables)
    iterations = int(model.optimizer.iterations.numpy())
    rate = float(model.optimizer.learning_rate)
    result = lr_find(model, x, y, min_lr=1e-4, max_lr=10.0, steps=20, batch_size=16)
    assert len(result.learning_rates) >= 5
    assert not np.allclose(result.raw_losses[0], result.raw_losses[-1])
    _assert_bit_identical(before, _values(variables))
    assert int(model.optimizer.iterations.numpy()) == iterations > 0
    assert float(model.optimizer.learning_rate) == rate


@pytest.mark.parametrize(
    "built",
    [
        True,
        pytest.param(
            False,
            marks=pytest.mark.xfail(
                keras.backend.backend() == "torch",
                strict=True,
                reason="Keras on torch, not lr_find: with plain Keras, a fit, then every "
                "model and optimizer variable and the torch, NumPy and Python random "
                "states restored, then a second fit differs from the first fit of an "
                "identical model when it has a Dropout layer (JAX: bit-identical); "
                "lr_find's first steps are such a first fit (built optimizer: both "
                "twins fitted first, identical)",
            ),
        ),
    ],
)
def test_a_fit_after_lr_find_is_the_fit_without_it(built):
    x, y = _classifier_data()
    twins = [_bn_dropout_model(keras.optimizers.Adam(1e-2)) for _ in range(2)]
    twins[1].set_weights(twins[0].get_weights())
    for i, model in enumerate(twins):
        # The same global random state for both (torch's unseeded dropout
        # draws from it); lr_find must leave it as it found it.
        keras.utils.set_random_seed(7)
        if built:
            model.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
        if i == 0:
            lr_find(model, x, y, min_lr=1e-4, max_lr=1.0, steps=10, batch_size=16)
        model.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=False)
    _assert_bit_identical(twins[1].get_weights(), twins[0].get_weights())


def test_ramp_is_exponential_from_min_to_max():
    x, y = _least_squares(1.0)
    result = lr_find(_linear(), x, y, min_lr=1e-6, max_lr=1e-2, steps=9, batch_size=64)
    np.testing.assert_allclose(
        result.learning_rates, np.geomspace(1e-6, 1e-2, 9), rtol=1e-12
    )
    assert not result.stopped_early
    # The raw losses fall monotonically at these small stable rates.
    assert all(np.diff(result.raw_losses) < 0)
    # A schedule is swapped for the same ramp: the same losses.
    scheduled = _linear()
    scheduled.compile(
        optimizer=keras.optimizers.SGD(
            keras.optimizers.schedules.CosineDecay(0.1, decay_steps=100)
        ),
        loss="mse",
    )
    ramped = lr_find(scheduled, x, y, min_lr=1e-6, max_lr=1e-2, steps=9, batch_size=64)
    np.testing.assert_allclose(ramped.raw_losses, result.raw_losses, rtol=1e-5)
    config = scheduled.optimizer.get_config()["learning_rate"]["config"]
    assert config["initial_learning_rate"] == 0.1 and config["decay_steps"] == 100


def test_layerwise_lr_ramps_the_base_rate():
    # With multiplier 0 on the only layer nothing moves: the loss is flat,
    # so LayerwiseLR's multipliers are applied on top of the ramped base.
    x, y = _least_squares(1.0)
    model = _linear()
    model.compile(
        optimizer=LayerwiseLR(keras.optimizers.SGD(0.01), {"dense": 0.0}), loss="mse"
    )
    frozen = lr_find(model, x, y, min_lr=1e-4, max_lr=1.0, steps=10, batch_size=64)
    assert len(set(frozen.raw_losses)) == 1 and frozen.suggestion is None
    model.compile(
        optimizer=LayerwiseLR(keras.optimizers.SGD(0.01), {"dense": 0.5}), loss="mse"
    )
    half = lr_find(model, x, y, min_lr=1e-4, max_lr=1.0, steps=10, batch_size=64)
    plain = lr_find(_linear(), x, y, min_lr=0.5e-4, max_lr=0.5, steps=10, batch_size=64)
    np.testing.assert_allclose(half.raw_losses, plain.raw_losses, rtol=1e-5)
    assert float(model.optimizer.learning_rate) == np.float32(0.01)


def test_inside_a_gradual_unfreeze_stage_only_the_stage_trains():
    x, y = _classifier_data()
    backbone = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(8, name="block1_dense"),
            keras.layers.Dense(8, name="block2_dense"),
        ],
        name="backbone",
    )
    backbone.trainable = False
    model = keras.Sequential([backbone, keras.layers.Dense(3, name="head")])
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(x, y, epochs=2, verbose=0, callbacks=[GradualUnfreeze(verbose=0)])
    trainable = [v.path for v in model.trainable_variables]
    assert len(trainable) == 4  # head + block2 (stage 1)
    before = _values(list(model.variables) + list(model.optimizer.variables))
    block1 = _values(backbone.get_layer("block1_dense").weights)

    kernels, head = [], model.get_layer("head").kernel

    def batches():  # sees the weights between the steps of the test
        for start in range(0, 64, 16):
            kernels.append(_values([backbone.get_layer("block1_dense").kernel, head]))
            yield x[start : start + 16], y[start : start + 16]

    class Batches:
        def __iter__(self):
            return batches()

    result = lr_find(model, Batches(), min_lr=1e-4, max_lr=1.0, steps=8)
    # block1 (still frozen) never moved; the head did.
    assert all(np.array_equal(k[0], block1[0]) for k in kernels)
    assert not np.array_equal(kernels[0][1], kernels[-1][1])
    assert len(result.learning_rates) == 8
    assert [v.path for v in model.trainable_variables] == trainable
    _assert_bit_identical(
        before, _values(list(model.variables) + list(model.optimizer.variables))
    )
    _assert_bit_identical(block1, _values(backbone.get_layer("block1_dense").weights))


def test_iterable_of_batches_is_cycled():
    x, y = _least_squares(1.0)
    batches = [(x[:32], y[:32]), (x[32:], y[32:])]
    from_list = lr_find(_linear(), batches, min_lr=1e-5, max_lr=1e-2, steps=7)
    from_arrays = lr_find(
        _linear(), x, y, min_lr=1e-5, max_lr=1e-2, steps=7, batch_size=32
    )
    assert len(from_list.raw_losses) == 7
    np.testing.assert_allclose(from_list.raw_losses, from_arrays.raw_losses, rtol=1e-6)


@pytest.mark.tensorflow_only
def test_tf_data_dataset():
    import tensorflow as tf

    x, y = _least_squares(1.0)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)
    result = lr_find(_linear(), dataset, min_lr=1e-5, max_lr=1e-2, steps=5)
    assert len(result.raw_losses) == 5


def test_plot_writes_a_png(tmp_path):
    x, y = _least_squares(0.1)
    result = lr_find(_linear(), x, y, steps=50, batch_size=64)
    path = result.plot(str(tmp_path / "lr.png"))
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert "suggestion=" in repr(result)


def test_errors_name_the_argument():
    x, y = _least_squares(1.0)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="must be compiled"):
        lr_find(model, x, y)
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match=r"`max_lr` must be .*max_lr=0.001"):
        lr_find(model, x, y, min_lr=0.01, max_lr=0.001)
    with pytest.raises(ValueError, match=r"`steps` must be an integer >= 5"):
        lr_find(model, x, y, steps=2)
    with pytest.raises(ValueError, match=r"`smoothing` must be in \[0, 1\)"):
        lr_find(model, x, y, smoothing=1.0)
    with pytest.raises(ValueError, match="`x` yielded no batches"):
        lr_find(model, [])
