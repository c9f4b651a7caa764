"""Tests for `keras_transfer._normalization`: what counts as BatchNorm, and where."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_transfer._normalization import (
    affine_weights,
    hides_batchnorm,
    is_batchnorm,
    is_normalization,
    statistics,
)


class _BlockWithBN(keras.layers.Layer):
    """A subclassed block that keeps its BatchNorm in an attribute."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(3)
        self.bn = keras.layers.BatchNormalization()

    def call(self, x, training=None):
        return self.bn(self.dense(x), training=training)


class _BlockWithList(keras.layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.parts = [keras.layers.Dense(3), keras.layers.LayerNormalization()]

    def call(self, x):
        for part in self.parts:
            x = part(x)
        return x


class RMSNormalization(keras.layers.Layer):
    """Stands for a normalization layer of another package (keras-hub's)."""


@pytest.mark.parametrize(
    "make, batchnorm, normalization",
    [
        (keras.layers.BatchNormalization, True, True),
        (keras.layers.LayerNormalization, False, True),
        (lambda: keras.layers.GroupNormalization(groups=1), False, True),
        (keras.layers.UnitNormalization, False, True),
        (RMSNormalization, False, True),
        (lambda: keras.layers.Dense(2), False, False),
        (_BlockWithBN, False, False),
    ],
    ids=["batch", "layer", "group", "unit", "rms", "dense", "block"],
)
def test_which_layers_are_batchnorm_and_which_normalization(
    make, batchnorm, normalization
):
    layer = make()
    assert is_batchnorm(layer) is batchnorm
    assert is_normalization(layer) is normalization


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="synchronized=True is TensorFlow's"
)
def test_synchronized_batchnorm_is_batchnorm():
    assert is_batchnorm(keras.layers.BatchNormalization(synchronized=True))


def test_affine_weights_are_gamma_and_beta_and_statistics_the_moving_ones():
    bn = keras.layers.BatchNormalization()
    bn.build((None, 4))
    assert [v.name for v in affine_weights(bn)] == ["gamma", "beta"]
    assert [v.name for v in statistics(bn)] == ["moving_mean", "moving_variance"]
    no_scale = keras.layers.BatchNormalization(scale=False)
    no_scale.build((None, 4))
    assert [v.name for v in affine_weights(no_scale)] == ["beta"]


def test_hides_batchnorm_finds_statistics_a_graph_rebuild_cannot_reach():
    inputs = keras.Input((4,))
    block = _BlockWithBN()
    listed = _BlockWithList()
    keras.Model(inputs, listed(block(inputs)))
    assert hides_batchnorm(block)
    assert not hides_batchnorm(listed)
    assert not hides_batchnorm(block.bn)  # BatchNorm itself is reachable
    assert not hides_batchnorm(keras.layers.Dense(2))

    class _RawStatistics(keras.layers.Layer):
        def build(self, input_shape):
            self.add_weight(shape=(2,), name="moving_mean", trainable=False)

        def call(self, x):
            return x

    raw = _RawStatistics()
    raw(np.zeros((1, 2), "float32"))
    assert hides_batchnorm(raw)
