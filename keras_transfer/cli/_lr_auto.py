"""`keras-transfer fit --learning-rate auto`: the head rate from `lr_find`.

The range test runs on the head alone, over backbone features computed
once (the head phase trains on cached features too), with a fresh Adam: the
head group's `LayerwiseLR` multiplier is 1, so its rate is the base rate.
`lr_find` puts the head's weights back exactly; the curve goes to a PNG
beside the model and its numbers into the report.
"""

from __future__ import annotations

import os

import keras
import numpy as np

from keras_transfer.cli._io import say
from keras_transfer.lr_finder import lr_find

# Used when the loss never fell during the range test (the documented default).
FALLBACK_LEARNING_RATE = 1e-3


def find_head_learning_rate(
    model: keras.Model,
    images: object,
    labels: np.ndarray,
    batch_size: int,
    model_path: str,
) -> tuple[float, dict]:
    """Runs `lr_find` on the head of the `fit` classifier; returns (rate, report).

    Args:
        model: the classifier of `cli._backbones.build_model` (layers
            `dropout` and `probabilities` after the frozen backbone).
        images: the training images, batched, without labels.
        labels: their labels, in the same order.
        batch_size: the head phase's batch size.
        model_path: the `.keras` path; the PNG is written beside it.
    """
    dropout, output = model.get_layer("dropout"), model.get_layer("probabilities")
    features = keras.Model(model.input, dropout.input).predict(images, verbose=0)
    head = keras.Sequential([keras.Input(features.shape[1:]), dropout, output])
    head.compile(
        optimizer=keras.optimizers.Adam(),
        loss=keras.losses.SparseCategoricalCrossentropy(),
    )
    result = lr_find(
        head,
        features,
        labels,
        batch_size=batch_size,
        min_lr=1e-6,
        max_lr=10.0,
        steps=100,
    )
    plot = os.path.splitext(model_path)[0] + ".lr_find.png"
    result.plot(plot)
    rate = result.suggestion or FALLBACK_LEARNING_RATE
    say(
        f"lr_find: head learning rate {rate:.2e} "
        f"({'suggested' if result.suggestion else 'fallback: the loss never fell'}; "
        f"{len(result.learning_rates)} steps, curve in {plot})"
    )
    return rate, {
        "suggestion": result.suggestion,
        "used": rate,
        "rule": "learning rate at the lowest smoothed loss / 10",
        "stopped_early": result.stopped_early,
        "learning_rates": result.learning_rates,
        "losses": result.losses,
        "plot": plot,
    }
