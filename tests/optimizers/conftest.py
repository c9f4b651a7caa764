"""Tiny models and data shared by the LayerwiseLR tests."""

from __future__ import annotations

import keras
import numpy as np
import pytest


def _make_model(frozen_body: bool = False) -> keras.Model:
    """Input(3) -> Dense(4, "body") -> Dense(1, "head"), deterministic weights."""
    model = keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(4, name="body", kernel_initializer="glorot_uniform"),
            keras.layers.Dense(1, name="head"),
        ],
        name="tiny",
    )
    if frozen_body:
        model.get_layer("body").trainable = False
    return model


@pytest.fixture
def make_model():
    """Builds the tiny two-layer model (optionally with `body` frozen)."""
    return _make_model


@pytest.fixture
def data():
    """32 samples of a linear target."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 3)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5]], "float32") + 0.3).astype("float32")
    return x, y


def _weights_of(layer: keras.Layer) -> list[np.ndarray]:
    return [np.array(keras.ops.convert_to_numpy(w)) for w in layer.weights]


@pytest.fixture
def weights_of():
    """Copies of a layer's weight values, as numpy arrays."""
    return _weights_of
