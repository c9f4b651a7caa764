"""Depth-ordered layer groups of a Keras model, top group first.

`layer_groups` is what "a layer group" means everywhere in keras-transfer:
`GradualUnfreeze` unfreezes one group per stage, `LayerwiseLR` decays the
learning rate by group depth. Both call it, so both agree.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Iterator, Mapping, Sequence

import keras
import numpy as np

from keras_transfer._layers import children, walk
from keras_transfer._normalization import is_normalization

# Squeeze-and-excite layers, by name or class: they join the block before them.
_SQUEEZE_EXCITE = re.compile(
    r"squeeze.?(?:and.?)?excit|(?:^|_)se(?:_|$)", re.IGNORECASE
)

# Natural blocks of keras.applications / keras-hub models, by layer-name prefix.
# The first pattern that matches a layer's name gives the block it belongs to.
_BLOCK_PATTERNS = (
    re.compile(r"^(conv\d+_block\d+)_"),  # ResNet, ResNetV2, DenseNet: conv5_block3_*
    re.compile(r"^(block_\d+_\d+)(?:_|$)"),  # keras-hub MobileNet: block_2_1
    re.compile(r"^(block_\d+)_"),  # MobileNetV2: block_16_*
    re.compile(r"^(block\d+[a-z])_"),  # EfficientNet(V2): block7a_*
    re.compile(r"^(block\d+)_"),  # VGG, Xception: block5_*
    re.compile(r"^(expanded_conv(?:_\d+)?)_"),  # MobileNetV2 block 0, MobileNetV3
    re.compile(
        r"^(.*?stage_?\d+_[a-z]*block_?\d+)_", re.IGNORECASE
    ),  # ConvNeXt, RegNet
    # keras-hub ResNet: stack3_block2_*; keras-cv ResNet(V2): v2_stack_0_block1_*
    re.compile(r"^(.*?stack_?\d+_block_?\d+)_"),
    re.compile(r"^(conv)_(?:dw|pw)_(\d+)"),  # MobileNet: conv_dw_13*, conv_pw_13*
)


@dataclasses.dataclass(frozen=True)
class LayerGroup:
    """A named group of layers that are frozen, unfrozen and scaled together.

    Args:
        name: the group's name (a block prefix such as `"block5"`, or a
            layer name).
        layers: the layers of the group, each owning weights.

    Example:

    ```python
    import keras
    from keras_transfer import LayerGroup

    dense = keras.layers.Dense(2)
    dense.build((None, 3))
    group = LayerGroup("head", (dense,))
    assert group.count_params() == 8
    print(group)  # LayerGroup('head', layers=1, params=8)
    ```
    """

    name: str
    layers: tuple[keras.Layer, ...]

    @property
    def weights(self) -> list[keras.Variable]:
        """All weights of the group's layers, each once."""
        return _each_once(w for layer in self.layers for w in layer.weights)

    @property
    def trainable_weights(self) -> list[keras.Variable]:
        """The group's weights that are trainable now."""
        return _each_once(w for layer in self.layers for w in layer.trainable_weights)

    def count_params(self) -> int:
        """Number of scalars in the group's weights (trainable or not)."""
        return int(sum(np.prod(w.shape, dtype=np.int64) for w in self.weights))

    def __repr__(self) -> str:
        return (
            f"LayerGroup({self.name!r}, layers={len(self.layers)}, "
            f"params={self.count_params():,})"
        )


def _each_once(weights: Iterator[keras.Variable]) -> list[keras.Variable]:
    return list({id(weight): weight for weight in weights}.values())


class _LayerGroups(list):
    """The list `layer_groups` returns: a plain list that prints as a table."""

    def summary(self, print_fn: object = None) -> None:
        """Prints one line per group, top group first."""
        (print_fn or print)(self._table())

    def _table(self) -> str:
        width = max([len(g.name) for g in self] + [5])
        lines = [
            f"{len(self)} layer groups, top (nearest the output) first:",
            f"  {'#':>3}  {'group':<{width}}  {'layers':>6}  {'params':>12}  trainable",
        ]
        for i, group in enumerate(self):
            trainable = sum(
                int(np.prod(w.shape, dtype=np.int64)) for w in group.trainable_weights
            )
            lines.append(
                f"  {i:>3}  {group.name:<{width}}  {len(group.layers):>6}  "
                f"{group.count_params():>12,}  {trainable:,}"
            )
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self._table()

    __str__ = __repr__


def layer_groups(
    model: keras.Layer,
    spec: Mapping[str, Sequence[str]] | Sequence[Sequence[str] | str] | None = None,
) -> list[LayerGroup]:
    """Splits a model into depth-ordered groups of layers, top group first.

    Without `spec`, every layer that owns weights is in exactly one group.
    Nested models (a functional backbone inside a `Sequential`, keras-hub
    and keras-cv backbones) are searched recursively, and so is a layer that
    holds a list of blocks (keras-hub's `ViTEncoder` -> one unit per
    `transformer_block_i`); any other layer with weights (a `HubBackbone`, a
    keras-hub transformer block) is one unit. Units are joined into the
    natural blocks of keras.applications, keras-hub and keras-cv models by
    name prefix (`block5_*`, `conv5_block3_*`, `block_16_*`, `block7a_*`,
    `stack3_block2_*`, `v2_stack_0_block1_*`, ...); a normalization or
    squeeze-excite layer outside any block joins the layer before it (`Conv1`
    + `bn_Conv1`), and a layer between two layers of one block joins it.
    Any other layer is its own group.

    Args:
        model: a built Keras model or layer.
        spec: optional explicit groups, top first: a dict
            `{group_name: [layer names]}` or a list whose entries are a layer
            name or a list of layer names. A name matches a layer (anywhere in
            the model, containers and the blocks inside an encoder included:
            a container stands for all its layers) with that exact name, else the layers whose name matches it
            as a regular expression. Layers named in no group are in no group.
            Defaults to `None` (automatic groups).

    Returns:
        A list of `LayerGroup`, the group nearest the output first. It prints
        as a table (`print(layer_groups(model))`) and has a `summary()`.

    Raises:
        ValueError: if the model is not built, owns no weights, or `spec`
            names layers that do not exist, names layers without weights, or
            puts a layer in two groups.

    Example:

    ```python
    import keras
    import keras_transfer as kt

    backbone = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(4, name="block1_dense"),
         keras.layers.Dense(4, name="block2_dense")], name="backbone")
    model = keras.Sequential([backbone, keras.layers.Dense(1, name="head")])
    groups = kt.layer_groups(model)
    assert [g.name for g in groups] == ["head", "block2", "block1"]
    print(groups)
    ```
    """
    if not isinstance(model, keras.Layer):
        raise TypeError(
            "`model` must be a Keras model or layer. "
            f"Received: model={model!r} of type {type(model).__name__}"
        )
    if not model.built or not model.weights:
        what = "is not built" if not model.built else "owns no weights"
        raise ValueError(
            f"`model` {what}, so it has no layer groups. Build it first: give it "
            "an `Input`, call `model.build(input_shape)` or call it on a batch. "
            f"Received: model={model.name!r} (built={model.built}, "
            f"weights={len(model.weights)})"
        )
    if spec is None:
        groups = _automatic_groups(model)
    else:
        groups = _groups_from_spec(model, spec)
    return _LayerGroups(groups)


def _holds_blocks(layer: keras.Layer) -> bool:
    """True for a layer `layer_groups` looks inside rather than keeping whole.

    A model with layers (a nested functional backbone), or a plain layer
    whose weights all belong to its sublayers and that holds at least two
    sublayers of one type that themselves hold weighted layers: an encoder
    keeping a list of blocks (keras-hub `ViTEncoder` and its
    `transformer_block_i`), or a wrapper whose weights are those of the one
    model or block it holds (`StatefulBackbone`). A block itself (attention + MLP, or a
    `MultiHeadAttention` with its projections) is not looked into.
    """
    if isinstance(layer, keras.Model):
        return bool(layer.layers)
    subs = [sub for sub in children(layer) if sub.weights]
    covered = {id(w) for sub in subs for w in sub.weights}
    if not all(id(w) in covered for w in layer.weights):
        return False
    if len(subs) == 1 and children(subs[0]):
        return True  # a wrapper (StatefulBackbone) around a model or block
    kinds: dict[type, int] = {}
    for sub in subs:
        if any(inner.weights for inner in children(sub)):
            kinds[type(sub)] = kinds.get(type(sub), 0) + 1
    return bool(kinds) and max(kinds.values()) >= 2


def _units(layer: keras.Layer) -> Iterator[tuple[keras.Layer, int]]:
    """Yields (unit: a layer with weights, id of its container), forward order.

    Looks into the layers `_holds_blocks` accepts, each layer once.
    """
    seen: set[int] = set()

    def visit(container: keras.Layer) -> Iterator[tuple[keras.Layer, int]]:
        for sub in children(container):
            if id(sub) in seen:
                continue
            seen.add(id(sub))
            if _holds_blocks(sub):
                yield from visit(sub)
            elif sub.weights:
                yield sub, id(container)

    yield from visit(layer)


def _block_key(name: str) -> str | None:
    for pattern in _BLOCK_PATTERNS:
        match = pattern.match(name)
        if match:
            return "_".join(match.groups())
    return None


def _is_squeeze_excite(layer: keras.Layer) -> bool:
    text = f"{layer.name} {type(layer).__name__}"
    return _SQUEEZE_EXCITE.search(text) is not None


def _automatic_groups(model: keras.Layer) -> list[LayerGroup]:
    if not _holds_blocks(model):
        return [LayerGroup(model.name, (model,))]
    units = list(_units(model))
    # (container id, block key or a unit's own key) per unit, forward order.
    keys: list[tuple[int, str]] = []
    for i, (unit, container) in enumerate(units):
        block = _block_key(unit.name)
        previous = keys[-1] if keys and keys[-1][0] == container else None
        if block is not None:
            keys.append((container, block))
        elif previous and (is_normalization(unit) or _is_squeeze_excite(unit)):
            keys.append(previous)  # bn_Conv1 after Conv1; SE inside its block
        elif previous and not previous[1].startswith("\0") and i + 1 < len(units):
            # A layer between two layers of one block (keras-cv's
            # squeeze_and_excite2d_3 between expanded_conv_1_* layers).
            after = units[i + 1]
            same = after[1] == container and _block_key(after[0].name) == previous[1]
            keys.append(previous if same else (container, f"\0{id(unit)}"))
        else:
            keys.append((container, f"\0{id(unit)}"))
    blocks: dict[tuple[int, str], list[keras.Layer]] = {}
    for (unit, _), key in zip(units, keys, strict=True):
        blocks.setdefault(key, []).append(unit)
    groups = [
        LayerGroup(
            key[1] if not key[1].startswith("\0") else layers[0].name, tuple(layers)
        )
        for key, layers in blocks.items()
    ]
    return _unique_names(groups)[::-1]


def _unique_names(groups: list[LayerGroup]) -> list[LayerGroup]:
    """Appends `_2`, `_3`, ... to repeated names (two nested copies of a block)."""
    counts: dict[str, int] = {}
    renamed = []
    for group in groups:
        counts[group.name] = counts.get(group.name, 0) + 1
        if counts[group.name] > 1:
            group = dataclasses.replace(
                group, name=f"{group.name}_{counts[group.name]}"
            )
        renamed.append(group)
    return renamed


def _match(pattern: str | keras.Layer, layers: list[keras.Layer]) -> list[keras.Layer]:
    if isinstance(pattern, keras.Layer):
        return [pattern] if any(pattern is layer for layer in layers) else []
    exact = [layer for layer in layers if layer.name == pattern]
    if exact:
        return exact
    try:
        regex = re.compile(pattern)
    except re.error:
        return []
    return [layer for layer in layers if regex.fullmatch(layer.name)]


def _groups_from_spec(model: keras.Layer, spec: Mapping | Sequence) -> list[LayerGroup]:
    if isinstance(spec, Mapping):
        entries = [(str(name), names) for name, names in spec.items()]
    elif isinstance(spec, Sequence) and not isinstance(spec, str):
        entries = []
        for entry in spec:
            names = [entry] if isinstance(entry, (str, keras.Layer)) else entry
            first = names[0] if len(names) else ""
            entries.append((getattr(first, "name", first), names))
    else:
        raise TypeError(
            "`spec` must be a dict {group_name: [layer names]} or a list of layer "
            f"names / lists of layer names, top group first. Received: spec={spec!r}"
        )
    if not entries:
        raise ValueError(
            "`spec` names no groups. Pass at least one group, or `spec=None` for "
            f"automatic groups. Received: spec={spec!r}"
        )
    everything = list(walk(model, include_self=False)) or [model]
    missing, groups, owner = [], [], {}
    for name, names in entries:
        if isinstance(names, (str, keras.Layer)):
            names = [names]
        units = []
        for pattern in names:
            matched = _match(pattern, everything)
            if not matched:
                missing.append(pattern)
            for layer in matched:
                if _holds_blocks(layer):
                    members = [unit for unit, _ in _units(layer)]
                else:
                    members = [layer]
                units.extend(
                    u for u in members if u.weights and all(u is not v for v in units)
                )
        if not units and not missing:
            raise ValueError(
                f"Group {name!r} of `spec` has no layers with weights, so it would "
                "be an empty group. Name layers that own weights. "
                f"Received: spec[{name!r}]={list(names)!r}"
            )
        for unit in units:
            # By weight: a block and a layer inside it overlap too.
            for weight in {id(w): w for w in unit.weights}.values():
                if id(weight) in owner and owner[id(weight)][0] != name:
                    raise ValueError(
                        f"Layer {unit.name!r} is in two groups of `spec`: "
                        f"{owner[id(weight)][0]!r} (as part of "
                        f"{owner[id(weight)][1]!r}) and {name!r}. Put each layer "
                        f"in one group. Received: spec={spec!r}"
                    )
                owner[id(weight)] = (name, unit.name)
        groups.append(LayerGroup(name, tuple(units)))
    if missing:
        names = sorted({layer.name for layer in everything})
        hints = []
        for pattern in missing:
            text = getattr(pattern, "name", str(pattern))
            close = difflib.get_close_matches(text, names, n=5, cutoff=0.5)
            hints.append(f"{text!r} (close: {', '.join(close) or 'none'})")
        raise ValueError(
            f"`spec` names layers that are not in model {model.name!r}: "
            f"{'; '.join(hints)}. Use names from `[l.name for l in model.layers]` "
            f"(nested models included) or regular expressions. Received: spec={spec!r}"
        )
    return groups
