"""Private: a float32 copy of a model trained under a mixed-precision policy.

Keras's ONNX export needs a float32 model, and a LiteRT float32 / quantized
model is converted from float32 graphs. A model whose layers compute in
float16 or bfloat16 (`mixed_float16`, `mixed_bfloat16`) is cloned with every
layer's dtype policy set to float32 and the same weights; a float32 model is
returned as it is.
"""

from __future__ import annotations

import keras


def _layers(layer: keras.layers.Layer) -> list:
    nested = getattr(layer, "layers", None) or []
    return [layer] + [inner for child in nested for inner in _layers(child)]


def _mixed(model: keras.Model) -> bool:
    return any(
        layer.dtype_policy.compute_dtype != "float32" for layer in _layers(model)[1:]
    )


def as_float32(model: keras.Model) -> keras.Model:
    """`model` itself when all its layers compute in float32, else a float32 clone."""
    if not _mixed(model):
        return model

    def float32(layer: keras.layers.Layer) -> keras.layers.Layer:
        return layer.__class__.from_config({**layer.get_config(), "dtype": "float32"})

    clone = keras.models.clone_model(model, clone_function=float32, recursive=True)
    clone.set_weights(model.get_weights())
    return clone
