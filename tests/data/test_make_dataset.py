import keras
import numpy as np
import pytest

from keras_transfer.data import make_dataset
from keras_transfer.data._numpy_batches import NumpyBatches


def _arrays(n=20):
    x = np.arange(n * 4, dtype="float32").reshape(n, 4)
    y = np.arange(n, dtype="float32").reshape(n, 1)
    return x, y


def _batches(ds):
    return [(np.asarray(xb), np.asarray(yb)) for xb, yb in ds]


def test_training_pipeline_has_static_shapes_and_drops_the_remainder():
    x, y = _arrays(20)
    ds = make_dataset(x, y, batch_size=8, seed=1)
    assert tuple(ds.element_spec[0].shape) == (8, 4)  # static: no None batch dim
    batches = _batches(ds)
    assert [b[0].shape for b in batches] == [(8, 4), (8, 4)]
    seen = np.concatenate([b[1] for b in batches]).ravel()
    assert len(set(seen.tolist())) == 16
    assert not np.array_equal(seen, np.arange(16))  # shuffled
    for xb, yb in batches:  # pairs stay aligned
        np.testing.assert_array_equal(xb[:, 0], yb[:, 0] * 4)


def test_inference_pipeline_keeps_every_sample_in_order():
    x, y = _arrays(20)
    batches = _batches(make_dataset(x, y, batch_size=8, training=False))
    assert [b[0].shape[0] for b in batches] == [8, 8, 4]
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), y)


def test_augment_runs_on_training_batches_only():
    x, y = _arrays(16)
    shift = lambda batch: batch + 1000.0  # noqa: E731
    train = _batches(make_dataset(x, y, batch_size=8, shuffle=False, augment=shift))
    np.testing.assert_array_equal(np.concatenate([b[0] for b in train]), x + 1000.0)
    plain = _batches(make_dataset(x, y, batch_size=8, training=False, augment=shift))
    np.testing.assert_array_equal(np.concatenate([b[0] for b in plain]), x)


def test_keras_augmentation_layers_in_the_pipeline():
    images = np.tile(np.arange(4, dtype="float32").reshape(1, 1, 4, 1), (8, 4, 1, 3))
    flip = keras.layers.RandomFlip("horizontal", seed=0)
    always_flip = [flip, keras.layers.RandomFlip("horizontal", seed=0)]
    ((xb, _),) = _batches(
        make_dataset(images, np.zeros(8), batch_size=8, augment=always_flip)
    )
    # each image is either unchanged or mirrored, never anything else
    for image in xb:
        row = image[0, :, 0]
        assert row.tolist() in ([0, 1, 2, 3], [3, 2, 1, 0])


@pytest.mark.parametrize("epochs", [1, 2])
def test_fit_on_the_active_backend(epochs):
    x = np.random.default_rng(0).normal(size=(40, 4)).astype("float32")
    y = x @ np.array([[1.0], [-2.0], [0.5], [0.0]], "float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    before = model.evaluate(x, y, verbose=0)
    history = model.fit(
        make_dataset(x, y, batch_size=8, seed=0), epochs=epochs, verbose=0
    )
    assert len(history.history["loss"]) == epochs
    assert model.evaluate(x, y, verbose=0) < before * 0.5


def test_without_targets():
    ds = make_dataset(np.ones((9, 2), "float32"), batch_size=4, training=False)
    assert [tuple(np.asarray(b[0]).shape) for b in ds] == [(4, 2), (4, 2), (1, 2)]


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"batch_size": 0}, "`batch_size`"),
        ({"batch_size": 64}, "larger than the 20 samples"),
        ({"augment": "flip", "batch_size": 8}, "`augment`"),
    ],
)
def test_errors(kwargs, match):
    x, y = _arrays(20)
    with pytest.raises((ValueError, TypeError), match=match):
        make_dataset(x, y, **kwargs)
    with pytest.raises(ValueError, match="same number of samples"):
        make_dataset(x, y[:5])


def test_numpy_fallback_reshuffles_per_epoch_with_static_shapes():
    x, y = _arrays(20)
    batches = NumpyBatches(x, y, 8, shuffle=True, seed=3, drop_remainder=True)
    assert len(batches) == 2
    first = np.concatenate([batches[i][1] for i in range(2)]).ravel()
    batches.on_epoch_end()
    second = np.concatenate([batches[i][1] for i in range(2)]).ravel()
    rng = np.random.default_rng(3)
    np.testing.assert_array_equal(first, rng.permutation(20)[:16])
    np.testing.assert_array_equal(second, rng.permutation(20)[:16])
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(batches, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2


def test_tf_data_autotune_is_off_when_training_on_the_cpu():
    # On a CPU-only host the autotuner competes with the training step for
    # the cores (measured: many epochs ran on about one of two cores).
    x, y = _arrays(20)
    assert make_dataset(x, y, batch_size=8).options().autotune.enabled is False
    on = make_dataset(x, y, batch_size=8, data_autotune=True)
    assert on.options().autotune.enabled is True
    assert len(_batches(on)) == 2
