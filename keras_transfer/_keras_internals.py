"""The one module that touches private Keras attributes.

Keras 3 has no public API for a few things this package must do (walk every
sub-layer of a layer, grow a built optimizer's state when variables are
unfrozen later, re-run a functional graph). Each such use lives here, as a
small function whose docstring says what Keras does today, and
`tests/test_keras_internals.py` has a test per function that fails loudly
when a Keras release changes the behaviour it relies on. Nothing outside this
module may read or write a `keras` object's `_private` attribute
(`grep -rn "\\._[a-z]" keras_transfer` finds only this file).

Tested against the Keras version in README's "Tests"; `KT_KERAS_LATEST=1 bash
scripts/test.sh` runs the suite against the newest Keras release.
"""

from __future__ import annotations

import keras

# --- Layers: walking nested layers, functional graphs ----------------------


def tracked_sublayers(layer: keras.Layer) -> list[keras.Layer]:
    """The layers `layer` holds directly, in the order it tracked them.

    Keras today: a `Layer` records every layer assigned to one of its
    attributes (directly or inside a list, tuple or dict) in `layer._layers`
    through its `Tracker`, and `layer._flatten_layers(include_self=False,
    recursive=False)` returns them, each once. `keras.Model.layers` is this
    list for models (Sequential leaves out its `InputLayer`), but a plain layer
    that holds layers (a keras-hub transformer block, a custom residual block)
    has no public equivalent. Use `keras_transfer._layers.walk` instead of
    calling this directly.
    """
    return list(layer._flatten_layers(include_self=False, recursive=False))


def call_outputs(layer: keras.Layer) -> list[list]:
    """The symbolic outputs of each call of `layer`, oldest call first.

    Keras today: each call of a layer on `KerasTensor`s (building a Functional
    graph) appends a `Node` to `layer._inbound_nodes`; `node.output_tensors`
    is the list of that call's outputs. For a functional model nested in
    another, `layer.output` is its own inner graph's output, not connected to
    the outer model's inputs: the node of its call in the outer graph is the
    only handle on the outer tensor.
    """
    return [list(node.output_tensors) for node in layer._inbound_nodes]


# --- Optimizers: state for variables that become trainable later -----------
