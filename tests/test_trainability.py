"""Tests for `keras_transfer._trainability` and `keras_transfer._layers.walk`."""

from __future__ import annotations

import keras
import pytest

from keras_transfer import _trainability
from keras_transfer._layers import children, walk


def _nested():
    """model > backbone (frozen) > [conv, bn, inner (frozen) > [dense, bn2]], head."""
    inner = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(4, name="dense"),
            keras.layers.BatchNormalization(name="bn2"),
        ],
        name="inner",
    )
    backbone = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(4, name="conv"),
            keras.layers.BatchNormalization(name="bn"),
            inner,
        ],
        name="backbone",
    )
    backbone.trainable = False
    model = keras.Sequential(
        [backbone, keras.layers.Dense(1, name="head")], name="model"
    )
    return model, backbone, inner


def _trainable_names(model):
    return sorted(v.path for v in model.trainable_weights)


class _Block(keras.layers.Layer):
    """Layers held in an attribute, a list and a dict (as keras-hub blocks do)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.attention = keras.layers.MultiHeadAttention(num_heads=1, key_dim=2)
        self.stack = [keras.layers.Dense(2, name="a"), keras.layers.Dense(2, name="b")]
        self.norms = {"out": keras.layers.LayerNormalization(name="norm")}

    def call(self, x):
        x = self.attention(x, x)
        for dense in self.stack:
            x = dense(x)
        return self.norms["out"](x)


def test_walk_reaches_layers_kept_in_attributes_lists_and_dicts():
    block = _Block()
    block(keras.ops.zeros((1, 3, 2)))
    assert [type(sub).__name__ for sub in children(block)] == [
        "MultiHeadAttention",
        "Dense",
        "Dense",
        "LayerNormalization",
    ]
    found = [sub.name for sub in walk(block)]
    assert found[0] == block.name
    assert {"query", "key", "value", "attention_output", "a", "b", "norm"} <= set(found)
    assert len(found) == len(set(found))
    # into=keras.Model: the block is one layer.
    model = keras.Sequential([keras.Input((3, 2)), block])
    assert [sub.name for sub in walk(model, include_self=False, into=keras.Model)] == [
        block.name
    ]


def test_make_trainable_changes_only_the_unit_and_its_containers():
    model, backbone, inner = _nested()
    _trainability.make_trainable(model, inner.get_layer("dense"))
    assert backbone.trainable and inner.trainable
    assert not backbone.get_layer("conv").trainable
    assert not backbone.get_layer("bn").trainable
    assert not inner.get_layer("bn2").trainable
    assert _trainable_names(model) == sorted(
        [
            inner.get_layer("dense").kernel.path,
            inner.get_layer("dense").bias.path,
            model.get_layer("head").kernel.path,
            model.get_layer("head").bias.path,
        ]
    )


@pytest.mark.parametrize(
    "batchnorm, bn_trainable, bn_weights",
    [
        ("frozen", False, []),
        ("affine", False, ["gamma", "beta"]),
        ("train", True, ["gamma", "beta"]),
    ],
)
def test_unfreeze_sets_batchnorm_per_mode(batchnorm, bn_trainable, bn_weights):
    model, backbone, inner = _nested()
    assert _trainability.needs_unfreezing(inner, batchnorm)
    _trainability.unfreeze(model, inner, batchnorm)
    bn2 = inner.get_layer("bn2")
    assert bn2.trainable is bn_trainable
    # A frozen BatchNorm layer lists no trainable weights of its own; the
    # model trains the variables whose own flag is set.
    assert [v.name for v in bn2.weights if v.trainable] == bn_weights
    in_model = {v.path for v in model.trainable_weights}
    assert [v.name for v in bn2.weights if v.path in in_model] == bn_weights
    assert [v.name for v in inner.get_layer("dense").trainable_weights] == [
        "kernel",
        "bias",
    ]
    assert not backbone.get_layer("conv").trainable
    assert not _trainability.needs_unfreezing(inner, batchnorm)
    # Statistics never train.
    assert not bn2.moving_mean.trainable and not bn2.moving_variance.trainable


def test_needs_unfreezing_looks_at_batchnorm_per_mode():
    model, backbone, inner = _nested()
    _trainability.unfreeze(model, inner, "frozen")
    assert not _trainability.needs_unfreezing(inner, "frozen")
    assert _trainability.needs_unfreezing(inner, "affine")  # gamma, beta frozen
    assert _trainability.needs_unfreezing(inner, "train")  # bn2 frozen


def test_snapshot_and_restore_put_back_every_flag():
    model, backbone, inner = _nested()
    state = _trainability.snapshot(model)
    _trainability.unfreeze(model, backbone, "train")
    assert _trainability.flags(_trainability.snapshot(model)) != _trainability.flags(
        state
    )
    _trainability.restore(state)
    assert _trainability.flags(_trainability.snapshot(model)) == _trainability.flags(
        state
    )
    assert _trainable_names(model) == sorted(
        [model.get_layer("head").kernel.path, model.get_layer("head").bias.path]
    )
