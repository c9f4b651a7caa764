import importlib
import warnings

import keras
import numpy as np
import pytest

from keras_transfer._keras_internals import sync_optimizer
from keras_transfer.feature_cache import fit_cached_head

# the module (the package attribute of the same name is the function)
fit_cached_head_module = importlib.import_module(
    "keras_transfer.feature_cache.fit_cached_head"
)


def _model(head_dropout=False, front=(), optimizer=None):
    backbone = keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            keras.layers.Conv2D(4, 3, name="conv"),
            keras.layers.BatchNormalization(name="bn"),
            keras.layers.ReLU(),
        ],
        name="backbone",
    )
    backbone.trainable = False
    head = [keras.layers.Dense(4, activation="relu", name="hidden")]
    if head_dropout:
        head.append(keras.layers.Dropout(0.5))
    model = keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            *front,
            backbone,
            keras.layers.GlobalAveragePooling2D(name="gap"),
            *head,
            keras.layers.Dense(1, name="out"),
        ]
    )
    model.compile(optimizer=optimizer or keras.optimizers.Adam(0.01), loss="mse")
    return model


def _data(n):
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(n, 16, 16, 3)).astype("float32")
    y = x.mean(axis=(1, 2, 3))[:, None].astype("float32") * 3
    return x, y


@pytest.mark.parametrize("feed", ["tf.data", "numpy"])
@pytest.mark.parametrize("n,shuffle", [(40, True), (36, True), (36, False)])
def test_cached_fit_equals_the_uncached_fit(n, shuffle, feed, monkeypatch):
    if feed == "numpy":  # the path of a machine without TensorFlow

        def no_tensorflow(*args, **kwargs):
            raise ImportError("No module named 'tensorflow'")

        monkeypatch.setattr(fit_cached_head_module, "_epoch_batches", no_tensorflow)
    x, y = _data(n)
    # SGD + momentum: Adam divides by sqrt(v) and so amplifies float-rounding
    # differences of near-zero gradients (dead ReLU units) beyond float tolerance.
    cached = _model(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    plain = _model(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    plain.set_weights(cached.get_weights())
    history = fit_cached_head(
        cached, x, y, epochs=3, batch_size=8, shuffle=shuffle, seed=5
    )
    rng = np.random.default_rng(5)
    losses = []
    for _ in range(3):
        order = rng.permutation(n) if shuffle else np.arange(n)
        h = plain.fit(
            x[order], y[order], batch_size=8, epochs=1, shuffle=False, verbose=0
        )
        losses += h.history["loss"]
    for a, b in zip(cached.weights, plain.weights):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(history.history["loss"], losses, rtol=1e-4)
    assert int(cached.optimizer.iterations) == 3 * -(-n // 8)
    moved = np.abs(
        np.asarray(cached.get_layer("out").kernel)
        - np.asarray(_model().get_layer("out").kernel)
    )
    assert moved.max() > 0  # the head did train


class _StepsPerEpoch(keras.callbacks.Callback):
    """Optimizer steps taken in each epoch, read at the epoch's end."""

    def on_train_begin(self, logs=None):
        self.counts, self.last = [], 0

    def on_epoch_end(self, epoch, logs=None):
        now = int(self.model.optimizer.iterations)
        self.counts.append(now - self.last)
        self.last = now


@pytest.mark.parametrize("n,batch_size", [(100, 2), (52, 8), (53, 1)])
def test_every_epoch_trains_exactly_its_own_steps(n, batch_size):
    # 50 steps per epoch (32 does not divide it: Keras ran 64 per epoch and the
    # data ran out in epoch 5, logging a loss of 0.0); 7 steps; 53 steps (prime).
    x, y = _data(n)
    model = _model(optimizer=keras.optimizers.SGD(0.01))
    steps = _StepsPerEpoch()
    with warnings.catch_warnings():
        # "Your input ran out of data" is a UserWarning
        warnings.simplefilter("error", UserWarning)
        history = fit_cached_head(
            model, x, y, epochs=5, batch_size=batch_size, callbacks=[steps]
        )
    per_epoch = -(-n // batch_size)
    assert steps.counts == [per_epoch] * 5
    assert per_epoch % history.model.steps_per_execution == 0
    assert all(np.isfinite(loss) and loss > 0 for loss in history.history["loss"])
    if keras.backend.backend() != "torch":
        expected = {50: 25, 7: 7, 53: 1}[per_epoch]
        assert history.model.steps_per_execution == expected


def test_class_weight_reaches_the_head_loss():
    x, y = _data(16)
    y = (y > np.median(y)).astype("float32")
    losses, start = {}, _model().get_weights()
    for weight in (1.0, 3.0):
        model = _model(optimizer=keras.optimizers.SGD(0.0))
        model.set_weights(start)
        history = fit_cached_head(
            model, x, y, batch_size=16, class_weight={0: weight, 1: weight}
        )
        losses[weight] = history.history["loss"][0]
    np.testing.assert_allclose(losses[3.0], 3 * losses[1.0], rtol=1e-5)


@pytest.mark.parametrize("steps_per_execution", [None, 1, 3])
def test_steps_per_execution_default_and_exact_step_count(steps_per_execution):
    x, y = _data(52)  # 7 steps of 8 per epoch: 3 does not divide it
    model = _model(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    reference = _model(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    reference.set_weights(model.get_weights())
    if keras.backend.backend() == "torch" and steps_per_execution == 3:
        with pytest.raises(
            ValueError, match="must be 1 on the torch backend.*Received: "
        ):
            fit_cached_head(model, x, y, steps_per_execution=3)
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = fit_cached_head(
            model, x, y, epochs=3, batch_size=8, steps_per_execution=steps_per_execution
        )
    # Default: 32 steps per call (TF, JAX), at most an epoch's 7; torch: 1.
    # 3 does not divide 7: lowered to 1 (3 per call ran 9 steps per epoch).
    default = 1 if keras.backend.backend() == "torch" else 7
    expected = default if steps_per_execution is None else 1
    lowered = [w for w in caught if "does not divide the 7 steps" in str(w.message)]
    assert len(lowered) == (steps_per_execution == 3)
    assert history.model.steps_per_execution == expected
    assert int(model.optimizer.iterations) == 3 * 7
    # The same weights as one step per call.
    fit_cached_head(reference, x, y, epochs=3, batch_size=8, steps_per_execution=1)
    for a, b in zip(model.weights, reference.weights):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)


def test_head_first_then_full_model_fit_continues_with_the_same_state():
    x, y = _data(32)
    model = _model(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    plain = _model(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    plain.set_weights(model.get_weights())
    fit_cached_head(model, x, y, epochs=2, batch_size=8, shuffle=False)
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    assert int(model.optimizer.iterations) == 8 + 4  # one optimizer, state carried over
    # 2 cached epochs + 1 plain epoch == 3 plain epochs (momentum state included)
    plain.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    for a, b in zip(model.weights, plain.weights):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)


def test_head_first_then_unfreeze_continues_on_the_full_model():
    x, y = _data(32)
    model = _model()
    fit_cached_head(model, x, y, epochs=2, batch_size=8)
    head_kernel = np.asarray(model.get_layer("out").kernel).copy()
    conv_before = np.asarray(
        model.get_layer("backbone").get_layer("conv").kernel
    ).copy()
    # what GradualUnfreeze does at a stage: unfreeze, sync optimizer state, re-trace
    model.get_layer("backbone").trainable = True
    model.get_layer("backbone").get_layer("bn").trainable = False
    sync_optimizer(model.optimizer, model.trainable_variables)
    model.make_train_function(force=True)
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    assert int(model.optimizer.iterations) == 8 + 4
    assert not np.allclose(
        np.asarray(model.get_layer("backbone").get_layer("conv").kernel), conv_before
    )
    assert not np.allclose(np.asarray(model.get_layer("out").kernel), head_kernel)


def test_validation_data_and_explicit_backbone_cut():
    x, y = _data(24)
    model = _model()
    history = fit_cached_head(
        model,
        x,
        y,
        backbone="backbone",
        epochs=1,
        batch_size=8,
        validation_data=(x[:8], y[:8]),
    )
    expected = model.evaluate(x[:8], y[:8], verbose=0)
    np.testing.assert_allclose(history.history["val_loss"][0], expected, rtol=1e-4)


def test_random_layer_in_the_cached_part_is_refused():
    x, y = _data(16)
    model = _model(front=(keras.layers.RandomFlip("horizontal"),))
    with pytest.raises(ValueError, match="random in training"):
        fit_cached_head(model, x, y)


def test_dropout_in_the_head_is_fine_and_stays_trainable():
    x, y = _data(16)
    model = _model(head_dropout=True)
    twin = _model()  # the same model without the Dropout, same starting weights
    for name in ("backbone", "hidden", "out"):
        twin.get_layer(name).set_weights(model.get_layer(name).get_weights())
    before = {w.path: keras.ops.convert_to_numpy(w) for w in model.weights}
    trainable = [w.path for w in model.trainable_weights]
    history = fit_cached_head(model, x, y, epochs=2, batch_size=8)
    fit_cached_head(twin, x, y, epochs=2, batch_size=8)
    assert len(history.history["loss"]) == 2
    after = {w.path: keras.ops.convert_to_numpy(w) for w in model.weights}
    # The head trained, the cached backbone did not, and the flags are as they were.
    assert [w.path for w in model.trainable_weights] == trainable
    assert len(trainable) == 4
    for path in before:
        assert np.array_equal(before[path], after[path]) == (path not in trainable), (
            path
        )
    # The Dropout was active in the head fit: the twin without it ends elsewhere.
    hidden = keras.ops.convert_to_numpy(model.get_layer("hidden").kernel)
    assert not np.allclose(
        hidden, keras.ops.convert_to_numpy(twin.get_layer("hidden").kernel)
    )


def test_errors():
    x, y = _data(16)
    model = _model()
    model.get_layer("backbone").trainable = True
    with pytest.raises(ValueError, match="no frozen layer"):
        fit_cached_head(model, x, y)
    model.get_layer("backbone").trainable = False
    with pytest.raises(ValueError, match="`backbone` must be a top-level layer"):
        fit_cached_head(model, x, y, backbone="nope")
    with pytest.raises(ValueError, match="trainable weights in"):
        fit_cached_head(model, x, y, backbone="hidden")
    with pytest.raises(ValueError, match="`epochs`"):
        fit_cached_head(model, x, y, epochs=0)
    with pytest.raises(
        ValueError, match="`steps_per_execution` must be an integer >= 1"
    ):
        fit_cached_head(model, x, y, steps_per_execution=0)
    uncompiled = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="must be compiled"):
        fit_cached_head(uncompiled, np.ones((4, 4)), np.ones((4, 1)))
