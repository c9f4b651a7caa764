"""Private: validation scores of a classifier, averaged over views."""

from __future__ import annotations

import keras
import numpy as np


def probabilities(model: keras.Model, views: np.ndarray, batch_size: int) -> np.ndarray:
    """Mean predicted probabilities over `views` `(count, n, ...)` of the inputs."""
    total = None
    for inputs in views:
        predicted = np.asarray(
            model.predict(inputs, batch_size=batch_size, verbose=0), "float64"
        )
        total = predicted if total is None else total + predicted
    return total / len(views)


def balanced_accuracy(y: np.ndarray, predicted: np.ndarray) -> float:
    """Mean recall over the classes present in `y`."""
    return float(np.mean([np.mean(predicted[y == c] == c) for c in np.unique(y)]))


def score(
    model: keras.Model,
    views: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    class_weight: dict | None = None,
) -> dict:
    """`loss` (cross-entropy, class-weighted as in training), `accuracy`,
    `balanced_accuracy`."""
    p = probabilities(model, views, batch_size)
    predicted = p.argmax(-1)
    weights = (
        np.ones(len(y))
        if class_weight is None
        else np.array([class_weight.get(int(c), 1.0) for c in y])
    )
    losses = -np.log(np.clip(p[np.arange(len(y)), y], 1e-7, 1.0))
    loss = float(np.sum(weights * losses) / np.sum(weights))
    return {
        "loss": loss,
        "accuracy": float(np.mean(predicted == y)),
        "balanced_accuracy": balanced_accuracy(y, predicted),
    }
