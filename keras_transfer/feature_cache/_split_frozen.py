"""Private: split a model into its frozen, deterministic part and the head."""

from __future__ import annotations

import warnings

import keras

from keras_transfer import _keras_internals
from keras_transfer._layers import is_stochastic, walk


def _top_layers(model: keras.Model) -> list:
    return [
        layer
        for layer in model.layers
        if not isinstance(layer, keras.layers.InputLayer)
    ]


def _find(layers: list, backbone: object) -> int:
    for index, layer in enumerate(layers):
        if layer is backbone or (isinstance(backbone, str) and layer.name == backbone):
            return index
    raise ValueError(
        "`backbone` must be a top-level layer of `model` (or its name), the last "
        f"layer of the frozen part. Top-level layers: {[lay.name for lay in layers]}. "
        f"Received: backbone={getattr(backbone, 'name', backbone)!r}"
    )


def _frozen(layer: keras.layers.Layer) -> bool:
    return bool(layer.weights) and not layer.trainable_weights


def split_frozen(
    model: keras.Model, backbone: object = None
) -> tuple[keras.Model, keras.Model, list]:
    """Returns `(feature_model, head_model, head_layers)`.

    The cut is after `backbone` (or the last frozen top-level layer with
    weights), extended over following weightless, deterministic layers on a
    linear chain (pooling, flatten). Both models share the layer objects of
    `model`.
    """
    if not isinstance(model, keras.Model) or not getattr(model, "inputs", None):
        raise TypeError(
            "`model` must be a built Functional or Sequential keras.Model (start it "
            "with keras.Input). "
            f"Received: model={type(model).__name__}"
        )
    layers = _top_layers(model)
    if backbone is not None:
        cut = _find(layers, backbone)
    else:
        frozen = [i for i, layer in enumerate(layers) if _frozen(layer)]
        if not frozen:
            raise ValueError(
                "`model` has no frozen layer to cache: freeze the pretrained part "
                "first (`backbone.trainable = False`) or name it with `backbone=`. "
                f"Received: model={model.name!r} with trainable layers "
                f"{[layer.name for layer in layers if layer.trainable_weights]}"
            )
        cut = frozen[-1]
    trained_before = [
        layer.name for layer in layers[: cut + 1] if layer.trainable_weights
    ]
    if trained_before:
        raise ValueError(
            f"The cached part (up to {layers[cut].name!r}) has trainable weights in "
            f"{trained_before}; caching would stop them from training. Freeze them, "
            "or pass an earlier `backbone=`. "
            f"Received: backbone={getattr(backbone, 'name', backbone)!r}"
        )
    while cut + 1 < len(layers):
        nxt = layers[cut + 1]
        if nxt.weights or any(is_stochastic(sub) for sub in walk(nxt)):
            break
        try:
            linear = nxt.input is layers[cut].output
        except (AttributeError, ValueError):
            linear = False
        if not linear:
            break
        cut += 1
    for layer in layers[: cut + 1]:
        if is_stochastic(layer):
            raise ValueError(
                f"The cached part contains {layer.name!r} ({type(layer).__name__}), "
                "which is random in training, so its output cannot be computed once. "
                "HINT: move augmentation into the input pipeline "
                "(keras_transfer.data.make_dataset(augment=...)). "
                f"Received: backbone={getattr(backbone, 'name', backbone)!r}"
            )
        nested = [
            sub.name for sub in walk(layer, include_self=False) if is_stochastic(sub)
        ]
        if nested:
            warnings.warn(
                f"{layer.name!r} contains random layers {nested[:3]}; the cache computes "
                "its features with training=False. The uncached fit matches only if "
                "the backbone is called with training=False (the Keras "
                "transfer-learning recipe). HINT: build the model with "
                "`backbone(inputs, training=False)`.",
                stacklevel=3,
            )
    if cut == len(layers) - 1:
        raise ValueError(
            "Nothing is left to train after the frozen part: `model` has no "
            f"trainable head after {layers[cut].name!r}. Received: model={model.name!r}"
        )
    try:
        features, feature_model = _features_in(model, layers[cut])
        head = keras.Model(features, model.outputs)
    except ValueError as error:
        raise ValueError(
            f"Cannot split `model` after {layers[cut].name!r}: the head must depend "
            "only on that layer's output (no skip connections around the cut). "
            f"Pass another `backbone=`. Received: backbone={layers[cut].name!r} "
            f"({error})"
        ) from error
    return feature_model, head, layers[cut + 1 :]


def _features_in(model: keras.Model, layer: keras.Layer) -> tuple:
    """`layer`'s symbolic output inside `model`'s graph, and the model up to it.

    `layer.output` is that for a plain layer, but a nested functional model
    reports its own inner graph's output, which is not connected to `model`'s
    inputs; its call node in the outer graph holds the right tensor. Raises
    `ValueError` (from `keras.Model`) when no output is connected.
    """
    for outputs in reversed(_keras_internals.call_outputs(layer)):
        outputs = outputs[0] if len(outputs) == 1 else outputs
        try:
            return outputs, keras.Model(model.inputs, outputs)
        except ValueError:
            continue
    return layer.output, keras.Model(model.inputs, layer.output)
