"""`BatchStatNormalize`: a BatchNorm layer's transform with the batch's own statistics.

Used by `adapt_batchnorm(..., exact=False)`: the one-pass estimate, where each
layer's input is normalized upstream with batch statistics (as in training
mode) without touching the moving averages.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops


class BatchStatNormalize(keras.layers.Layer):
    """Normalizes with batch mean / variance and `bn`'s gamma, beta, epsilon."""

    def __init__(self, bn: keras.layers.BatchNormalization, **kwargs: Any) -> None:
        super().__init__(dtype=bn.dtype_policy, name=f"{bn.name}_batch_stats", **kwargs)
        self.bn = bn

    def call(self, x: Any) -> Any:
        x = ops.cast(x, "float32")
        axis = self.bn.axis % len(x.shape)
        axes = [i for i in range(len(x.shape)) if i != axis]
        mean = ops.mean(x, axis=axes, keepdims=True)
        variance = ops.mean(ops.square(x - mean), axis=axes, keepdims=True)
        shape = [-1 if i == axis else 1 for i in range(len(x.shape))]
        y = (x - mean) / ops.sqrt(variance + self.bn.epsilon)
        if self.bn.scale:
            y = y * ops.reshape(ops.cast(self.bn.gamma, "float32"), shape)
        if self.bn.center:
            y = y + ops.reshape(ops.cast(self.bn.beta, "float32"), shape)
        return ops.cast(y, self.compute_dtype)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape
