"""Private: walking nested layers and spotting stochastic ones."""

from __future__ import annotations

import keras


def iter_layers(layer: keras.layers.Layer):
    """Yields `layer` and every layer nested in it (depth first)."""
    yield layer
    for child in getattr(layer, "layers", None) or []:
        if child is not layer:
            yield from iter_layers(child)


def is_stochastic(layer: keras.layers.Layer) -> bool:
    """True when the layer draws random numbers in its call (Dropout, Random*)."""
    return any(
        isinstance(value, keras.random.SeedGenerator) for value in vars(layer).values()
    )
