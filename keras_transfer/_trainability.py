"""Private: snapshot, restore and change `trainable` flags of nested Keras layers.

In Keras 3 `layer.trainable = x` recurses into every sublayer and sets the
`trainable` flag of their variables, and `model.trainable_variables` is the
model's variables whose own flag is set. So a nested container is made
trainable by setting it and then restoring the flags of everything inside it
that must stay as it was. Used by `GradualUnfreeze`, `Tent` and `enable_lora`.
"""

from __future__ import annotations

import keras

from keras_transfer._layers import walk, walk_with_parents
from keras_transfer._normalization import affine_weights, is_batchnorm

BATCHNORM_MODES = ("frozen", "affine", "train")


def snapshot(layer: keras.Layer) -> tuple[tuple, tuple]:
    """The `trainable` flags of `layer`, its sublayers and their variables."""
    layers = tuple((sub, sub.trainable) for sub in walk(layer))
    variables = tuple((v, v.trainable) for v in layer.weights)
    return layers, variables


def flags(state: tuple[tuple, tuple]) -> tuple[bool, ...]:
    """The flags of a snapshot, comparable with another snapshot's."""
    layers, variables = state
    return tuple(f for _, f in layers) + tuple(f for _, f in variables)


def restore(state: tuple[tuple, tuple]) -> None:
    """Sets every flag recorded by `snapshot` back."""
    layers, variables = state
    for layer, flag in layers:  # parents first: children overwrite recursion
        if layer.trainable != flag:
            layer.trainable = flag
    for variable, flag in variables:
        variable.trainable = flag


def make_trainable(root: keras.Layer, unit: keras.Layer) -> None:
    """Makes `unit` (somewhere under `root`) trainable, and nothing else.

    Containers between `root` and `unit` are made trainable without changing
    anything else inside them; everything inside `unit` becomes trainable
    (Keras's `trainable` setter recurses).
    """
    for container in _ancestors(root, unit):
        if not container.trainable:
            inside = snapshot(container)
            container.trainable = True
            _restore_below(container, inside)
    unit.trainable = True


def unfreeze(root: keras.Layer, unit: keras.Layer, batchnorm: str) -> None:
    """Makes `unit` (somewhere under `root`) trainable, BatchNorm per `batchnorm`.

    As `make_trainable`; then the BatchNorm layers inside `unit`
    (`_normalization.is_batchnorm`) stay in inference mode with frozen
    statistics (`"frozen"`), also train `gamma` and `beta` (`"affine"`), or
    train like any layer (`"train"`).
    """
    make_trainable(root, unit)
    if batchnorm == "train":
        return
    for layer in walk(unit):
        if is_batchnorm(layer):
            layer.trainable = False
            if batchnorm == "affine":
                for variable in affine_weights(layer):
                    variable.trainable = True


def needs_unfreezing(unit: keras.Layer, batchnorm: str) -> bool:
    """True while `unfreeze(root, unit, batchnorm)` would make more of `unit` train.

    A layer with weights inside `unit` is frozen (a BatchNorm layer: frozen
    under `"train"`, frozen with a frozen `gamma` or `beta` under `"affine"`,
    never under `"frozen"`).
    """
    for layer in walk(unit):
        if not layer.weights or layer.trainable:
            continue
        if not is_batchnorm(layer) or batchnorm == "train":
            return True
        if batchnorm == "affine" and not all(
            v.trainable for v in affine_weights(layer)
        ):
            return True
    return False


def _restore_below(container: keras.Layer, state: tuple[tuple, tuple]) -> None:
    layers, variables = state
    restore((tuple(item for item in layers if item[0] is not container), variables))


def _ancestors(root: keras.Layer, unit: keras.Layer) -> list[keras.Layer]:
    """Layers from `root` down to `unit`'s parent (excluding `unit`)."""
    parents = {id(layer): parent for parent, layer in walk_with_parents(root)}
    if id(unit) not in parents or unit is root:
        return []
    path = []
    parent = parents[id(unit)]
    while parent is not None:
        path.append(parent)
        parent = parents[id(parent)]
    return path[::-1]


def to_record(layer: keras.Layer) -> dict:
    """The `trainable` flags of `layer`'s sublayers and weights, as plain data.

    `{"layers": [[class name, flag], ...], "variables": [flag, ...]}`: the
    layers in `walk(layer)` order (`layer` first), the variables in
    `layer.weights` order. What `apply_record` sets on a rebuilt copy of
    `layer` (class names, not layer names: a rebuilt copy's automatic names
    such as `dropout_3` differ).
    """
    layers, variables = snapshot(layer)
    return {
        "layers": [[type(sub).__name__, bool(flag)] for sub, flag in layers],
        "variables": [bool(flag) for _, flag in variables],
    }


def apply_record(layer: keras.Layer, record: dict) -> str:
    """Sets the flags of a `to_record` record on `layer` (a rebuilt copy).

    A record without `"variables"` sets the layer flags only.

    Returns:
        `""` when the flags were set; otherwise why nothing was set (the
        layers or weights of `layer` differ from those recorded).
    """
    layers = list(walk(layer))
    kinds = [kind for kind, _ in record.get("layers", [])]
    if kinds != [type(sub).__name__ for sub in layers]:
        return (
            f"{len(kinds)} layers were recorded, {len(layers)} are in "
            f"{layer.name!r}, or their classes differ"
        )
    variables = list(layer.weights)
    flags = record.get("variables")
    if flags is None:  # layer flags only
        flags, variables = [], []
    if len(flags) != len(variables):
        return (
            f"{len(flags)} weights were recorded, {layer.name!r} has {len(variables)}"
        )
    restore(
        (
            tuple((sub, flag) for sub, (_, flag) in zip(layers, record["layers"])),
            tuple(zip(variables, flags)),
        )
    )
    return ""
