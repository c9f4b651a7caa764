"""The compiled models a demo run keeps: reset per cell, traced once."""

import keras
import numpy as np
import pytest

from keras_transfer.demo._reuse import RunModels, copy_variables


def _model(seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(8),
            keras.layers.BatchNormalization(momentum=0.5),
            keras.layers.Dropout(0.5, seed=seed),
            keras.layers.Dense(3),
        ]
    )


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(32, 6)).astype("float32"), rng.integers(0, 3, 32)


def _run_models() -> RunModels:
    return RunModels(
        build=lambda: _model(0),
        make_optimizer=lambda: keras.optimizers.Adam(0.05),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        batch_size=8,
    )


def _fit(model):
    x, y = _data()
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)


def _values(model):
    return [keras.ops.convert_to_numpy(v) for v in model.variables]


def test_a_kept_model_reset_to_a_fresh_one_trains_to_the_fresh_models_weights():
    # Reference: a fresh model of seed 1, compiled and fitted on its own.
    reference = _model(1)
    reference.compile(
        optimizer=keras.optimizers.Adam(0.05),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    _fit(reference)

    models = _run_models()
    kept = models.one_lr("full", _model(0))
    _fit(kept)  # trains, moves Adam's moments, the BN statistics, the seed state
    train_function = kept.train_function
    again = models.one_lr("full", _model(1))
    assert again is kept
    assert kept.optimizer.iterations.numpy() == 0
    _fit(again)
    assert again.train_function is train_function  # not compiled again
    assert int(again.optimizer.iterations.numpy()) == 8  # 2 epochs x 4 batches
    for got, want in zip(_values(again), _values(reference), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_each_arm_keeps_its_own_model():
    models = _run_models()
    full = models.one_lr("full", _model(0))
    scratch = models.one_lr("scratch", _model(1))
    assert scratch is not full
    assert models.one_lr("full", _model(2)) is full


def test_predict_scores_any_model_of_the_architecture_through_one_model():
    models = _run_models()
    x, _ = _data()
    for seed in (3, 4):
        model = _model(seed)
        np.testing.assert_allclose(
            models.predict(model, x), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6
        )


def test_copy_variables_refuses_another_architecture():
    other = keras.Sequential([keras.Input((6,)), keras.layers.Dense(3)])
    with pytest.raises(ValueError, match="same architecture.*Received: 9 and 2"):
        copy_variables(_model(0), other)
