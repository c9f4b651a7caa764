"""Private: does the artifact, in its runtime, answer what the Keras model answers?"""

from __future__ import annotations

import keras
import numpy as np

from keras_transfer.export import _runtimes

LATENCY_IMAGES = 20


def compare(model: keras.Model, runner: object, images: np.ndarray, source: dict,
            min_agreement: float) -> dict:  # fmt: skip
    """Top-1 agreement and probability differences of `runner` against `model`.

    Both see the same float pixels; the runner (de)quantizes for itself.
    `latency_ms` is the median time of one single-image call in the runtime
    (up to 20 images, after one warm-up call).
    """
    expected = np.asarray(model.predict(images, batch_size=32, verbose=0), "float32")
    got = runner(images)
    if got.shape != expected.shape:
        raise ValueError(
            f"The artifact's output has shape {got.shape}; the Keras model's has "
            f"{expected.shape} on the same {len(images)} images."
        )
    agree = got.argmax(axis=-1) == expected.argmax(axis=-1)
    difference = np.abs(got - expected)
    return {
        **source,
        "runtime": runner.runtime,
        "top1_agreement": float(agree.mean()),
        "disagreements": int((~agree).sum()),
        "max_abs_probability_difference": float(difference.max()),
        "mean_abs_probability_difference": float(difference.mean()),
        "min_agreement": float(min_agreement),
        "passed": bool(agree.mean() >= min_agreement),
        "latency_ms": _runtimes.latency_ms(runner, images[:LATENCY_IMAGES]),
    }
