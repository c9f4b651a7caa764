"""Private: cut a model inside its frozen backbone, at a layer-group boundary.

While the layers below a cut are frozen (inference mode), their output is a
fixed function of the input: the part above the cut can train on those
activations computed once. A cut is valid where nothing crosses it: the
upper part, built from the cut tensor alone, holds exactly the layers of the
groups above it (a skip connection that jumps the cut makes Keras refuse the
graph or leaves layers out, and the cut is skipped).
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np

from keras_transfer.grouping import layer_groups


@dataclasses.dataclass
class Cut:
    """`lower`: model input -> activations; `upper`: activations -> model output.

    Both share the layer objects (hence the weights) of the model they cut.
    `groups` is how many layer groups (top first, head included) lie above;
    `tensor` is the cut inside the backbone's own graph. Cuts inside the
    backbone have no `lower` of their own (`None`): `lower_many` builds one
    model for the cuts a run uses, so the layers below run once for all.
    """

    lower: keras.Model | None
    upper: keras.Model
    groups: int
    name: str
    tensor: object = None


def _top_layers(model: keras.Model) -> list:
    return [
        layer
        for layer in model.layers
        if not isinstance(layer, keras.layers.InputLayer)
    ]


def find_backbone(model: keras.Model) -> keras.Layer | None:
    """The last frozen top-level layer with weights (the backbone), or None."""
    candidates = [
        layer
        for layer in _top_layers(model)
        if layer.weights and not layer.trainable_weights
    ]
    return candidates[-1] if candidates else None


def _chain(layers: list, tensor: object) -> object:
    for layer in layers:
        tensor = layer(tensor)
    return tensor


def _linear_parts(model: keras.Model, backbone: keras.Model) -> tuple[list, list]:
    layers = _top_layers(model)
    index = layers.index(backbone)
    return layers[:index], layers[index + 1 :]


def _layer_ids(model: keras.Model) -> set[int]:
    return {id(layer) for layer in model.layers if layer.weights}


def cuts(model: keras.Model, backbone: keras.Model, probe: np.ndarray) -> list[Cut]:
    """Every valid cut inside `backbone`, shallowest (fewest groups above) first.

    `model` must be a linear chain `pre... -> backbone -> post...` of top-level
    layers; `probe` (a couple of inputs) checks that rebuilding it that way
    gives the model's own outputs, otherwise there are no cuts.
    """
    if not isinstance(backbone, keras.Model) or not hasattr(backbone, "outputs"):
        return []  # e.g. a HubBackbone: one layer, nothing inside to cut at
    before, after = _linear_parts(model, backbone)
    inputs = keras.Input(model.inputs[0].shape[1:], dtype=model.inputs[0].dtype)
    rebuilt = keras.Model(inputs, _chain(after, backbone(_chain(before, inputs))))
    expected = model.predict(probe, verbose=0)
    if not np.allclose(
        rebuilt.predict(probe, verbose=0), expected, rtol=1e-4, atol=1e-5
    ):
        return []
    groups = layer_groups(model)
    inner = {id(layer) for layer in backbone.layers}
    order = {id(layer): i for i, layer in enumerate(backbone.layers)}
    found, above = [], set()
    for count, group in enumerate(groups, start=1):
        above |= {id(layer) for layer in group.layers if layer.weights}
        below = [g for g in groups[count:] if any(id(lay) in inner for lay in g.layers)]
        if not below or not all(id(layer) in inner for layer in group.layers):
            continue
        first = min(group.layers, key=lambda layer: order[id(layer)])
        tensor = first.input
        if not isinstance(tensor, keras.KerasTensor):
            continue
        try:
            upper_backbone = keras.Model(tensor, backbone.outputs[0])
        except ValueError:
            continue
        if _layer_ids(upper_backbone) != {i for i in above if i in inner}:
            continue
        cut_input = keras.Input(tensor.shape[1:], dtype=tensor.dtype)
        upper = keras.Model(cut_input, _chain(after, upper_backbone(cut_input)))
        found.append(Cut(None, upper, count, group.name, tensor))
    return found


def lower_many(model: keras.Model, backbone: keras.Model, cuts: list) -> keras.Model:
    """Model input -> the activations at every one of `cuts`, in one pass.

    The backbone's layers below the shallowest cut run once for all of them
    (a model of each cut's `lower` would run them once per cut).
    """
    before, _ = _linear_parts(model, backbone)
    inputs = keras.Input(model.inputs[0].shape[1:], dtype=model.inputs[0].dtype)
    inner = keras.Model(backbone.inputs, [cut.tensor for cut in cuts])
    outputs = inner(_chain(before, inputs))
    return keras.Model(inputs, list(outputs) if len(cuts) > 1 else [outputs])


def head_cut(model: keras.Model, backbone: keras.Model) -> Cut:
    """The cut at the backbone's output: the head alone above it."""
    before, after = _linear_parts(model, backbone)
    inputs = keras.Input(model.inputs[0].shape[1:], dtype=model.inputs[0].dtype)
    features = backbone(_chain(before, inputs))
    lower = keras.Model(inputs, features)
    out = features
    cut_input = keras.Input(out.shape[1:], dtype=out.dtype)
    return Cut(lower, keras.Model(cut_input, _chain(after, cut_input)), 1, "head")
