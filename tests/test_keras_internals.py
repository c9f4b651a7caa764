"""One test per assumption `keras_transfer._keras_internals` makes about Keras.

When a Keras release changes one of them, the test named after the function
fails here first, with the assumption in its message.
"""

from __future__ import annotations

# --- Layers -----------------------------------------------------------------

# --- Optimizers -------------------------------------------------------------
