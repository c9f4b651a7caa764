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

# --- Layers: walking nested layers, functional graphs ----------------------

# --- Optimizers: state for variables that become trainable later -----------
