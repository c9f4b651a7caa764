"""`InferenceCall`: calls a wrapped layer with `training=False`, whatever the context."""

from __future__ import annotations

from typing import Any

import keras


class InferenceCall(keras.layers.Layer):
    """Wraps `layer` so it always runs in inference mode (dropout off, etc.).

    A Functional graph forwards `fit()`'s `training=True` to every layer, even
    one that was wired with an explicit `training=False`; this wrapper takes
    the injected value and drops it. It shares `layer` (and its variables).
    """

    def __init__(self, layer: keras.Layer, **kwargs: Any) -> None:
        super().__init__(
            dtype=layer.dtype_policy, name=f"{layer.name}_inference", **kwargs
        )
        self.layer = layer

    def call(self, *args: Any, training: bool | None = None, **kwargs: Any) -> Any:
        del training
        return self.layer(*args, training=False, **kwargs)

    def compute_output_spec(
        self, *args: Any, training: bool | None = None, **kwargs: Any
    ) -> Any:
        return self.layer.compute_output_spec(*args, **kwargs)
