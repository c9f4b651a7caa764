"""Private: the one walk over nested layers, and spotting stochastic layers.

Every part of keras-transfer that looks inside a model (layer groups, the
trainable-flag snapshots of `GradualUnfreeze` and `Tent`, `enable_lora` and
`merge_lora`, `effective_settings`, the feature cache's split) walks it with
`walk`, and `walk` learns a layer's sublayers from `children` alone: what it
reaches (keras-hub blocks that keep layers in attributes and lists, Keras
`MultiHeadAttention`'s projections) is decided there and nowhere else.
"""

from __future__ import annotations

from collections.abc import Iterator

import keras

from keras_transfer import _keras_internals


def children(layer: keras.Layer) -> list[keras.Layer]:
    """The layers directly inside `layer`, in the order it holds them.

    `model.layers` for models (Sequential leaves out its `InputLayer`); for
    any other layer, every layer it tracks in an attribute or inside a list,
    tuple or dict attribute (`_keras_internals.tracked_sublayers`: Keras 3 has
    no public API for this).
    """
    if isinstance(layer, keras.Model):
        return list(layer.layers)
    return _keras_internals.tracked_sublayers(layer)


def walk(
    layer: keras.Layer,
    include_self: bool = True,
    into: type | tuple[type, ...] = keras.Layer,
) -> Iterator[keras.Layer]:
    """Yields `layer` and every layer nested in it, parents first, each once.

    Args:
        layer: where to start.
        include_self: whether `layer` itself comes first. Defaults to `True`.
        into: enter only layers of these types; the others are yielded but
            not looked into (`keras.Model`: a keras-hub block or a
            `HubBackbone` counts as one layer). Defaults to `keras.Layer`
            (every layer that holds layers is entered).
    """
    for _, sub in walk_with_parents(layer, include_self, into):
        yield sub


def walk_with_parents(
    layer: keras.Layer,
    include_self: bool = True,
    into: type | tuple[type, ...] = keras.Layer,
) -> Iterator[tuple[keras.Layer | None, keras.Layer]]:
    """Like `walk`, yielding `(parent, layer)` (`parent` is `None` for `layer`)."""
    seen = {id(layer)}
    if include_self:
        stack = [(None, layer)]
    else:
        stack = [(layer, sub) for sub in reversed(children(layer))]
    while stack:
        parent, current = stack.pop()
        if parent is not None:
            if id(current) in seen:
                continue
            seen.add(id(current))
        yield parent, current
        if isinstance(current, into):
            stack.extend((current, sub) for sub in reversed(children(current)))


def is_stochastic(layer: keras.Layer) -> bool:
    """True when the layer draws random numbers in its call (Dropout, Random*)."""
    return any(
        isinstance(value, keras.random.SeedGenerator) for value in vars(layer).values()
    )
