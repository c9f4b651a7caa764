"""A tiny "pretrained" backbone for the CLI tests: a conv net as a TF Hub SavedModel."""

from __future__ import annotations

import keras


def export_tiny_savedmodel(path: str, size: int, seed: int = 2) -> str:
    """Exports Conv2D(8, 3, relu) on `size`x`size` RGB as a TF Hub format SavedModel."""
    from keras_transfer.layers import export_reusable_savedmodel

    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [keras.Input((size, size, 3)), keras.layers.Conv2D(8, 3, activation="relu")]
    )
    return export_reusable_savedmodel(model, path)
