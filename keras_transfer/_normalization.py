"""Private: the one way keras-transfer recognises normalization layers.

`is_batchnorm` decides what counts as BatchNorm everywhere (the
`batchnorm=` modes of `GradualUnfreeze`, `enable_lora`'s frozen statistics,
`adapt_batchnorm`, `Tent`); `is_normalization` widens it to every
normalization layer for `layer_groups` (a normalization layer joins the
layer before it); `affine_weights` is what "BatchNorm affine only" trains.
"""

from __future__ import annotations

import keras

from keras_transfer._layers import walk

# How BatchNorm statistics are named in a graph Keras cannot look into.
_STATISTICS_NAMES = ("moving_mean", "moving_var")


def is_batchnorm(layer: keras.Layer) -> bool:
    """True for a layer that normalizes with moving statistics.

    `keras.layers.BatchNormalization` and its subclasses (keras-hub and
    keras.applications build theirs with it; `synchronized=True` is the
    same class).
    """
    return isinstance(layer, keras.layers.BatchNormalization)


def is_normalization(layer: keras.Layer) -> bool:
    """True for any normalization layer: BatchNorm, Layer-, Group-, RMS-...

    BatchNorm by `is_batchnorm`; the others by their class name ending in
    "Normalization" (`LayerNormalization`, `GroupNormalization`,
    `UnitNormalization`, keras-hub's `RMSNormalization`), which also covers
    normalization layers of packages not imported here.
    """
    return is_batchnorm(layer) or type(layer).__name__.endswith("Normalization")


def statistics(layer: keras.Layer) -> list[keras.Variable]:
    """A BatchNorm layer's moving statistics: `[moving_mean, moving_variance]`."""
    return [layer.moving_mean, layer.moving_variance]


def affine_weights(layer: keras.Layer) -> list[keras.Variable]:
    """A BatchNorm layer's weights other than its statistics (`gamma`, `beta`)."""
    stats = {id(v) for v in statistics(layer)}
    return [v for v in layer.weights if id(v) not in stats]


def hides_batchnorm(layer: keras.Layer) -> bool:
    """True for a layer that keeps BatchNorm statistics no graph rebuild reaches.

    A layer that is not BatchNorm itself but holds one (a subclassed block),
    or keeps statistics as variables of a SavedModel graph (a `HubBackbone`,
    always; a `keras.layers.TFSMLayer` with `moving_mean` / `moving_variance`
    variables).
    """
    if is_batchnorm(layer):
        return False
    if type(layer).__name__ == "HubBackbone":
        return True
    if any(is_batchnorm(sub) for sub in walk(layer, include_self=False)):
        return True
    return any(name in v.path for v in layer.weights for name in _STATISTICS_NAMES)
