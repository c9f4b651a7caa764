"""One test per assumption `keras_transfer._keras_internals` makes about Keras.

When a Keras release changes one of them, the test named after the function
fails here first, with the assumption in its message.
"""

from __future__ import annotations

import keras
import pytest

from keras_transfer import _keras_internals

# --- Layers -----------------------------------------------------------------


class _Block(keras.layers.Layer):
    """A plain layer holding layers: one as an attribute, two in a list."""

    def __init__(self):
        super().__init__(name="block")
        self.first = keras.layers.Dense(2, name="first")
        self.pair = [keras.layers.Dense(2, name="second"), keras.layers.Dense(2, name="third")]

    def call(self, x):
        return self.pair[1](self.pair[0](self.first(x)))


def test_tracked_sublayers():
    block = _Block()
    names = [layer.name for layer in _keras_internals.tracked_sublayers(block)]
    assert names == ["first", "second", "third"], (
        "Keras no longer tracks the layers a Layer holds (attributes, lists) in "
        "`_layers` / `_flatten_layers(include_self=False, recursive=False)`, in "
        f"assignment order: got {names}"
    )
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="dense")])
    names = [layer.name for layer in _keras_internals.tracked_sublayers(model)]
    assert names[1:] == ["dense"] and [lay.name for lay in model.layers] == ["dense"], (
        f"Sequential's tracked layers changed: got {names}"
    )


def test_call_outputs():
    inner_in = keras.Input((3,))
    inner = keras.Model(inner_in, keras.layers.Dense(2)(inner_in), name="inner")
    outer_in = keras.Input((3,))
    outer_out = keras.layers.Dense(1)(inner(outer_in))
    outer = keras.Model(outer_in, outer_out)
    calls = _keras_internals.call_outputs(inner)
    assert len(calls) == 1 and len(calls[0]) == 1, (
        "Keras no longer records one `_inbound_nodes` entry per symbolic call of a "
        f"model (here: its call in the outer graph) with its outputs: got {calls}"
    )
    assert calls[0][0] is not inner.output
    features = keras.Model(outer.inputs, calls[-1][0])  # connected to the outer inputs
    assert features.inputs[0] is outer_in
    with pytest.raises(ValueError):
        keras.Model(outer.inputs, inner.output)  # the inner graph's own output is not


# --- Optimizers -------------------------------------------------------------
