"""`enable_lora`: Keras's LoRA adapters on the layer groups of a backbone.

Keras 3 layers `Dense`, `EinsumDense`, `Embedding` and `Conv1D/2D/3D` have
`layer.enable_lora(rank)`: the kernel `W` is frozen and the layer computes
with `W + (alpha / rank) * A @ B`, `A` and `B` two small float32 matrices
(`B` starts at zero, so the model is unchanged until it trains). This module
applies it by layer group (`keras_transfer.layer_groups`), reports what it
changed, and folds the adapters back into the kernels for serving
(`merge_lora`).

What Keras does with the adapters when saving (Keras 3.15, tested in
`tests/test_lora.py`):

- `model.save("m.keras")` / `save_weights`: the config keeps `lora_rank`;
  the weights file holds the MERGED kernel and no `A`, `B`. Loading gives a
  model that predicts the same, with adapters re-created and set to zero
  (both `A` and `B`), so their gradients are zero: a reloaded model cannot
  continue LoRA training (call `enable_lora` on a merged copy instead),
  unless the backbone is wrapped in
  `keras_transfer.layers.stateful_backbone.StatefulBackbone`, which saves
  the adapters and unmerged kernels and puts them back (and the LoRA ranks
  of layers whose config does not carry them: keras-hub blocks).
- `model.export(...)` (SavedModel): traces `call`, so the artifact holds
  `W`, `A` and `B` as separate variables and adds `A @ B` at every call.
  Export `merge_lora(model)` to serve plain kernels.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence

import keras
import numpy as np

from keras_transfer._layers import children, walk, walk_with_parents
from keras_transfer._snapshot import restore, snapshot
from keras_transfer._trainability import make_trainable
from keras_transfer._validate import check_int
from keras_transfer.grouping import LayerGroup, layer_groups

# keras-hub's default LoRA targets (`Backbone.default_lora_layer_names`): the
# query and value projections, Keras `MultiHeadAttention`'s names included.
_ATTENTION_TARGETS = ("query_dense", "value_dense", "query", "value")

# The layer types of Keras 3.15 that implement `enable_lora`.
SUPPORTED_LAYERS = (
    keras.layers.Dense,
    keras.layers.EinsumDense,
    keras.layers.Embedding,
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv3D,
)


@dataclasses.dataclass(frozen=True)
class LoraTable:
    """What `enable_lora` changed: one row per layer that got adapters.

    Args:
        rows: `(group, layer name, layer type, base shape, added params)` per
            layer with adapters, in group order.
        skipped: `(group, layer name, reason)` per layer with weights in the
            chosen groups that did not get adapters.
        layers: the layers that got adapters, in the order of `rows`.
        rank: the adapters' rank.
        alpha: the adapters' `lora_alpha` (the update is scaled by
            `alpha / rank`).

    Example:

    ```python
    import keras
    import keras_transfer as kt

    backbone = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(8, name="block1_dense")],
        name="backbone")
    backbone.trainable = False
    model = keras.Sequential([backbone, keras.layers.Dense(2, name="head")])
    table = kt.enable_lora(model, rank=2)
    assert table.added_params == 8 * 2 + 2 * 8
    print(table)
    ```
    """

    rows: tuple[tuple[str, str, str, tuple[int, ...], int], ...]
    skipped: tuple[tuple[str, str, str], ...]
    layers: tuple[keras.Layer, ...]
    rank: int
    alpha: float

    @property
    def added_params(self) -> int:
        """Number of scalars in the adapters added."""
        return sum(row[4] for row in self.rows)

    def base_multipliers(self) -> dict[str, float]:
        """`{variable path: 0.0}` for every frozen base weight of the adapted layers.

        Pass it as `path_multipliers` to
        `keras_transfer.optimizers.LayerwiseLR` when `GradualUnfreeze`
        brings the adapters in group by group: unfreezing a layer makes its
        kernel trainable again (Keras's `trainable` setter), and multiplier 0
        keeps the kernel and bias bit-identical.
        """
        return {
            weight.path: 0.0 for layer in self.layers for weight in _base_weights(layer)
        }

    def __repr__(self) -> str:
        width = max([len(r[1]) for r in self.rows] + [5])
        lines = [
            f"LoRA rank {self.rank} (alpha {self.alpha:g}) on {len(self.rows)} "
            f"layers, {self.added_params:,} params added:",
            f"  {'group':<12}  {'layer':<{width}}  {'type':<12}  "
            f"{'base shape':<18}  {'added':>9}",
        ]
        for group, name, kind, shape, added in self.rows:
            lines.append(
                f"  {group:<12}  {name:<{width}}  {kind:<12}  "
                f"{str(shape):<18}  {added:>9,}"
            )
        for group, name, reason in self.skipped:
            lines.append(f"  {group:<12}  {name:<{width}}  skipped: {reason}")
        return "\n".join(lines)

    __str__ = __repr__


def enable_lora(
    model: keras.Model,
    rank: int,
    *,
    groups: Sequence[str | LayerGroup] | None = None,
    alpha: float | None = None,
    include: str | Callable[[keras.Layer], bool] | None = None,
    trainable: bool = True,
) -> LoraTable:
    """Adds LoRA adapters to the supported layers of chosen layer groups.

    Calls Keras's own `layer.enable_lora(rank, lora_alpha=alpha)` on every
    `Dense`, `EinsumDense`, `Embedding`, `Conv1D`, `Conv2D` and `Conv3D`
    layer in the chosen groups of `keras_transfer.layer_groups(model)`,
    those nested in a block included (the projections inside a keras-hub
    transformer block). Inside a keras-hub backbone the default targets are
    keras-hub's own (`backbone.default_lora_layer_names()`: the query and
    value projections of attention, what `backbone.enable_lora(rank)`
    adapts); inside any other `MultiHeadAttention`, its query and value.
    Other layers (depthwise and separable convolutions, normalization, a
    `HubBackbone`) are listed as skipped. Nothing else changes: layers
    outside the groups keep their `trainable` flags, BatchNormalization
    stays in inference mode with its statistics frozen (as
    `GradualUnfreeze`'s default), the head trains as before.

    With `trainable=True` the adapters train from the next `fit`: the
    adapted layers (and the containers above them, nothing else inside)
    become trainable, and every base weight of an adapted layer (kernel,
    bias) is frozen, so `fit` updates only adapters and what was trainable.
    With `trainable=False` the adapted layers stay frozen, for
    `GradualUnfreeze` to bring them in group by group; since unfreezing a
    layer makes its kernel trainable again, compile with
    `LayerwiseLR(..., path_multipliers=table.base_multipliers())`, which
    holds the base weights at multiplier 0 (bit-identical).

    Call it before building a `LayerwiseLR` with `decay`: the adapters are
    weights of their layer, so they get their group's multiplier.
    Compile (again) after `enable_lora`.

    Args:
        model: a built Keras model.
        rank: the adapters' rank, an integer >= 1.
        groups: names of groups of `keras_transfer.layer_groups(model)`, or
            `LayerGroup`s. Defaults to `None`: every group none of whose
            weights is trainable (the frozen backbone).
        alpha: `lora_alpha`; the update is scaled by `alpha / rank`.
            Defaults to `None` (Keras's default: `rank`, a scale of 1).
        include: only layers whose name, or path of names from their
            group's unit (`"transformer_block_1/mha/key"`), matches this
            regular expression (`re.search`), or for which this callable
            returns `True`; it replaces the default targets above. Defaults
            to `None` (every supported layer, keras-hub's and attention's
            defaults inside those).
        trainable: make the adapters trainable now (see above). Defaults
            to `True`.

    Returns:
        A `LoraTable`: the layers changed, the parameters added, the layers
        skipped and why; `base_multipliers()` for `LayerwiseLR`.

    Raises:
        ValueError: if `rank` is not a positive integer, a group name is
            unknown, or the chosen groups have no layer to adapt.

    Example:

    ```python
    import numpy as np
    import keras
    import keras_transfer as kt
    from keras_transfer.lora import merge_lora

    backbone = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(16, name="block1_dense"),
         keras.layers.Dense(16, name="block2_dense")], name="backbone")
    backbone.trainable = False
    model = keras.Sequential([backbone, keras.layers.Dense(2, name="head")])
    table = kt.enable_lora(model, rank=4)
    print(table)  # 2 layers, 224 params added
    assert len(model.trainable_weights) == 6  # 2 x (lora A, lora B) + head
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.ones((8, 8)), np.ones((8, 2)), epochs=1, verbose=0)
    serving = merge_lora(model)  # plain Dense layers, merged kernels
    x = np.ones((2, 8))
    np.testing.assert_allclose(serving.predict(x, verbose=0),
                               model.predict(x, verbose=0), atol=1e-5)
    ```
    """
    check_int("rank", rank, 1)
    if alpha is not None and not (isinstance(alpha, (int, float)) and alpha > 0):
        raise ValueError(
            f"`alpha` must be a number > 0 or None. Received: alpha={alpha!r}"
        )
    chosen = _choose_groups(model, groups)
    matches = _include(include)
    parents = {id(sub): parent for parent, sub in walk_with_parents(model)}
    rows, skipped, adapted = [], [], []
    for group in chosen:
        for unit in group.layers:
            targets, reasons = _targets(unit, parents, matches, include is None)
            skipped.extend((group.name, name, reason) for name, reason in reasons)
            for layer, name in targets:
                shape = tuple(_base_weights(layer)[0].shape)
                before = len(layer.weights)
                if trainable:
                    make_trainable(model, layer)
                layer.enable_lora(rank, lora_alpha=alpha)
                for weight in _base_weights(layer):
                    weight.trainable = False
                added = sum(int(np.prod(w.shape)) for w in layer.weights[before:])
                rows.append((group.name, name, type(layer).__name__, shape, added))
                adapted.append(layer)
    if not rows:
        raise ValueError(
            "No layer of the chosen groups can take LoRA adapters (supported: "
            f"{', '.join(c.__name__ for c in SUPPORTED_LAYERS)}). Skipped: "
            f"{[s[1:] for s in skipped]}. HINT: choose other `groups` or widen "
            f"`include`. Received: groups={[g.name for g in chosen]!r}, "
            f"include={include!r}"
        )
    return LoraTable(
        tuple(rows),
        tuple(skipped),
        tuple(adapted),
        rank,
        float(alpha if alpha is not None else rank),
    )


def merge_lora(model: keras.Model) -> keras.Model:
    """A copy of `model` with every LoRA adapter folded into its kernel.

    Each adapted layer of the copy is the plain layer (no `lora_rank` in its
    config, no adapter variables) whose kernel is `W + (alpha / rank) * A @ B`
    computed by Keras (`layer.save_own_variables`, what `.keras` saving
    writes), in the kernel's dtype (float32 unless the model was built
    otherwise); every other weight is copied. The copy predicts what `model`
    predicts, runs without the extra matmul, and is what to `export` or
    save for serving. `model` is not changed.

    Args:
        model: a built model (functional or `Sequential`, any nesting)
            with adapters from `enable_lora` or `layer.enable_lora`.

    Returns:
        A new model, built, without adapters.

    Example:

    ```python
    import numpy as np
    import keras
    from keras_transfer.lora import merge_lora

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    model.layers[0].enable_lora(2)
    model.layers[0].lora_kernel_b.assign(np.ones((2, 3)))
    merged = merge_lora(model)
    assert len(merged.weights) == 2  # kernel and bias, merged
    x = np.ones((1, 4))
    np.testing.assert_allclose(merged.predict(x, verbose=0),
                               model.predict(x, verbose=0), rtol=1e-6)
    ```
    """
    if not isinstance(model, keras.Model) or not model.built:
        raise ValueError(
            f"`model` must be a built Keras model. Received: model={model!r}"
        )
    config = _strip_lora(keras.saving.serialize_keras_object(model))
    merged = keras.saving.deserialize_keras_object(config)
    adapted = [
        layer
        for layer in walk(model, include_self=False)
        if getattr(layer, "lora_enabled", False)
    ]
    folded = {}
    for layer in adapted:
        store: dict = {}
        layer.save_own_variables(store)
        for i, weight in enumerate(_base_weights(layer)):
            folded[id(weight)] = store[str(i)]
    lora_ids = {
        id(w) for layer in adapted for w in layer.weights if w.name.startswith("lora_")
    }
    kept = [weight for weight in model.weights if id(weight) not in lora_ids]
    if len(kept) != len(merged.weights):
        raise ValueError(
            f"Could not rebuild `model` {model.name!r} without adapters: "
            f"{len(merged.weights)} weights in the copy, {len(kept)} expected. "
            "HINT: a custom layer whose config does not rebuild the same "
            "weights cannot be copied; merge its adapters with "
            f"`layer.save_own_variables`. Received: model={model.name!r}"
        )
    for target, source in zip(merged.weights, kept, strict=True):
        if tuple(target.shape) != tuple(source.shape) or target.name != source.name:
            raise ValueError(
                f"Weight {source.path!r} of `model` does not match {target.path!r} "
                f"of its rebuilt copy. Received: model={model.name!r}"
            )
    # Host copies: never the source's buffer (JAX donates it).
    restore(merged.weights, snapshot(folded.get(id(w), w) for w in kept))
    return merged


def _choose_groups(
    model: keras.Model, groups: Sequence[str | LayerGroup] | None
) -> list[LayerGroup]:
    every = layer_groups(model)
    if groups is None:
        frozen = [g for g in every if not g.trainable_weights]
        if not frozen:
            raise ValueError(
                "`groups=None` adapts the frozen groups of `model`, but every "
                "layer group has trainable weights. Freeze the backbone "
                "(`backbone.trainable = False`) or name the groups. "
                f"Received: model={model.name!r}, groups={[g.name for g in every]!r}"
            )
        return frozen
    if isinstance(groups, (str, LayerGroup)):
        groups = [groups]
    by_name = {g.name: g for g in every}
    chosen = []
    for group in groups:
        if isinstance(group, LayerGroup):
            chosen.append(group)
        elif group in by_name:
            chosen.append(by_name[group])
        else:
            raise ValueError(
                f"`groups` names {group!r}, which is not a layer group of model "
                f"{model.name!r}. Use names from `kt.layer_groups(model)`: "
                f"{list(by_name)!r}. Received: groups={list(groups)!r}"
            )
    return chosen


def _include(include: object) -> Callable[[keras.Layer, str], bool]:
    if include is None:
        return lambda layer, path: True
    if isinstance(include, str):
        pattern = re.compile(include)
        return lambda layer, path: (
            pattern.search(layer.name) is not None or pattern.search(path) is not None
        )
    if callable(include):
        return lambda layer, path: bool(include(layer))
    raise TypeError(
        "`include` must be a regular expression (str), a callable "
        f"`layer -> bool` or None. Received: include={include!r}"
    )


def _targets(
    unit: keras.Layer,
    parents: dict[int, keras.Layer | None],
    matches: Callable[[keras.Layer, str], bool],
    defaults: bool,
) -> tuple[list[tuple[keras.Layer, str]], list[tuple[str, str]]]:
    """The layers inside `unit` to adapt, and `(name, reason)` of the others.

    `unit` itself when it is a supported layer; else the supported layers
    nested in it (a transformer block's projections), named by their path
    from `unit` ("transformer_block_1/mha/query"). With `defaults`, a layer
    inside a keras-hub backbone must be one of its
    `default_lora_layer_names()`, and one inside an attention layer a
    query or value projection.
    """
    if isinstance(unit, SUPPORTED_LAYERS) or not children(unit):
        inside = [(unit, unit.name)]
    else:
        inside = [
            (layer, _path_from(unit, layer, parents))
            for layer in walk(unit, include_self=False)
            if layer.weights and not children(layer)
        ]
    targets, reasons = [], []
    for layer, name in inside:
        reason = _why_not(layer, name, matches)
        if not reason and defaults:
            reason = _not_a_default_target(layer, parents)
        if reason:
            reasons.append((name, reason))
        else:
            targets.append((layer, name))
    if not targets and len(inside) > 1:  # one line for a block left whole
        reasons = [(unit.name, f"no layer inside to adapt ({reasons[0][1]}, ...)")]
    return targets, reasons


def _path_from(
    unit: keras.Layer, layer: keras.Layer, parents: dict[int, keras.Layer | None]
) -> str:
    names = []
    while layer is not None and layer is not unit:
        names.append(layer.name)
        layer = parents.get(id(layer))
    return "/".join([unit.name, *names[::-1]])


def _ancestors(
    layer: keras.Layer, parents: dict[int, keras.Layer | None]
) -> list[keras.Layer]:
    found = []
    parent = parents.get(id(layer))
    while parent is not None:
        found.append(parent)
        parent = parents.get(id(parent))
    return found


def _not_a_default_target(
    layer: keras.Layer, parents: dict[int, keras.Layer | None]
) -> str:
    """Why `enable_lora(include=None)` leaves `layer` alone ("" to adapt it)."""
    for ancestor in _ancestors(layer, parents):
        names = getattr(ancestor, "default_lora_layer_names", None)
        if callable(names):  # a keras-hub backbone: its own choice
            if layer.name in names():
                return ""
            return f"not one of {type(ancestor).__name__}'s LoRA targets"
    for ancestor in _ancestors(layer, parents):
        if isinstance(ancestor, keras.layers.MultiHeadAttention):
            if layer.name in _ATTENTION_TARGETS:
                return ""
            return "attention: only the query and value projections"
    return ""


def _why_not(
    layer: keras.Layer, path: str, matches: Callable[[keras.Layer, str], bool]
) -> str:
    if not isinstance(layer, SUPPORTED_LAYERS):
        return f"{type(layer).__name__} has no enable_lora"
    if not matches(layer, path):
        return "not matched by `include`"
    if getattr(layer, "lora_enabled", False):
        return "LoRA already enabled"
    if getattr(layer, "quantization_mode", None):
        return f"quantized ({layer.quantization_mode})"
    if getattr(layer, "kernel_constraint", None) is not None:
        return "has a kernel_constraint (Keras refuses LoRA)"
    return ""


def _base_weights(layer: keras.Layer) -> list[keras.Variable]:
    """The weights of a layer other than its LoRA adapters, in order."""
    return [w for w in layer.weights if not w.name.startswith("lora_")]


def _strip_lora(config: object) -> object:
    """A (de)serialization config with every `lora_rank` / `lora_alpha` removed."""
    if isinstance(config, dict):
        return {
            key: _strip_lora(value)
            for key, value in config.items()
            if key not in ("lora_rank", "lora_alpha")
        }
    if isinstance(config, list):
        return [_strip_lora(value) for value in config]
    return config
