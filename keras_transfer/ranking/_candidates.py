"""Private: a candidate (a `fit --backbone` name or a Keras model) as a feature model.

The feature model takes the images as `rank_backbones` was given them and
returns one pooled vector per image (global average over the spatial or
token axes). A name goes through the loader of `keras-transfer fit
--backbone` (`keras_transfer/cli/_backbones.py`, imported when needed so
that the library does not load the command line's modules up front), with
the preprocessing layers it prescribes for raw RGB pixels 0..255.
"""

from __future__ import annotations

import keras


def _pooled(outputs: object) -> object:
    rank = len(outputs.shape)
    if rank == 4:
        return keras.layers.GlobalAveragePooling2D(name="rank_pool")(outputs)
    if rank == 3:
        return keras.layers.GlobalAveragePooling1D(name="rank_pool")(outputs)
    if rank == 2:
        return outputs
    raise ValueError(
        "a candidate must output feature maps (batch, h, w, c), tokens "
        f"(batch, n, c) or vectors (batch, c). Received: output shape {tuple(outputs.shape)}"
    )


def feature_model(
    candidate: object, input_shape: tuple, weights: str | None
) -> tuple[keras.Model, str]:
    """`(model images -> pooled features, description)` for one candidate."""
    inputs = keras.Input(input_shape, name="images")
    if isinstance(candidate, keras.Layer):
        outputs = candidate(inputs)
        if isinstance(outputs, (list, tuple, dict)):
            raise ValueError(
                f"a candidate model must have one output. Received: {type(outputs).__name__}"
            )
        description = f"{type(candidate).__name__} {candidate.name!r}"
    else:
        from keras_transfer.cli._backbones import load_backbone

        if input_shape[0] != input_shape[1] or input_shape[2] != 3:
            raise ValueError(
                "a candidate given by name takes square RGB images (x of shape "
                f"(n, size, size, 3)). Received: image shape {input_shape}"
            )
        backbone, preprocess, description = load_backbone(
            candidate, weights, input_shape[0]
        )
        outputs = inputs
        for step in preprocess:
            outputs = step(outputs)
        outputs = backbone(outputs)
    model = keras.Model(inputs, _pooled(outputs), name="rank_features")
    model.trainable = False
    return model, description
