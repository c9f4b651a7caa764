"""Prediction entropy, in-graph (`EntropyLoss` layer for TENT) and in NumPy."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops


def looks_like_probabilities(y: np.ndarray) -> bool:
    """True when every row of `y` is a probability vector (or in [0, 1] for 1 unit)."""
    y = np.asarray(y, dtype=np.float64)
    if y.size == 0 or np.any(y < 0) or np.any(y > 1):
        return False
    if y.shape[-1] == 1:
        return True
    return bool(np.allclose(y.sum(axis=-1), 1.0, atol=1e-3))


def probabilities(y: np.ndarray, from_logits: bool) -> np.ndarray:
    """Class probabilities (a sigmoid output becomes two columns) in float64."""
    y = np.asarray(y, dtype=np.float64)
    if y.shape[-1] == 1:
        p = 1.0 / (1.0 + np.exp(-y)) if from_logits else y
        return np.concatenate([1.0 - p, p], axis=-1)
    if from_logits:
        z = np.exp(y - y.max(axis=-1, keepdims=True))
        return z / z.sum(axis=-1, keepdims=True)
    return y


def entropy(y_pred: Any, from_logits: bool) -> Any:
    """Per-sample Shannon entropy (nats) of a softmax / sigmoid output, float32."""
    y = ops.cast(y_pred, "float32")
    if y.shape[-1] == 1:
        p = ops.sigmoid(y) if from_logits else y
        p = ops.concatenate([1.0 - p, p], axis=-1)
        return -ops.sum(p * ops.log(ops.clip(p, 1e-12, 1.0)), axis=-1)
    if from_logits:
        return -ops.sum(ops.softmax(y, axis=-1) * ops.log_softmax(y, axis=-1), axis=-1)
    return -ops.sum(y * ops.log(ops.clip(y, 1e-12, 1.0)), axis=-1)


class EntropyLoss(keras.layers.Layer):
    """Passes predictions through and adds their mean entropy with `add_loss`."""

    def __init__(self, from_logits: bool, **kwargs: Any) -> None:
        super().__init__(dtype="float32", **kwargs)
        self.from_logits = from_logits

    def call(self, y_pred: Any) -> Any:
        self.add_loss(ops.mean(entropy(y_pred, self.from_logits)))
        return y_pred

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape
