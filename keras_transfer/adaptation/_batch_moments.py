"""In-graph per-channel moments of a BatchNormalization layer's input."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops


class BatchMoments(keras.layers.Layer):
    """Outputs `[mean, variance, count]` (shape `(3, channels)`, float32).

    `mean` and `variance` are over every axis but `axis` of one batch (the
    population variance, as BatchNormalization uses); `count` is the number
    of values each channel's moments were taken over.
    """

    def __init__(self, axis: int, **kwargs: Any) -> None:
        super().__init__(dtype="float32", **kwargs)
        self.axis = axis

    def call(self, x: Any) -> Any:
        x = ops.cast(x, "float32")
        axis = self.axis % len(x.shape)
        axes = [i for i in range(len(x.shape)) if i != axis]
        mean = ops.mean(x, axis=axes)
        variance = ops.mean(
            ops.square(x - ops.reshape(mean, self._keep(x, axis))), axis=axes
        )
        count = ops.cast(ops.size(x), "float32") / ops.cast(
            ops.shape(x)[axis], "float32"
        )
        return ops.stack([mean, variance, ops.ones_like(mean) * count])

    @staticmethod
    def _keep(x: Any, axis: int) -> list:
        return [-1 if i == axis else 1 for i in range(len(x.shape))]

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (3, input_shape[self.axis])
