"""Offline domain-shift experiment: shifts, a small BN CNN, and the method loop.

Used by `benchmarks/domain_shift.py` (tested by
tests/test_benchmark_domain_shift.py). Everything is NumPy in / floats
out and runs on any backend; nothing is downloaded.
"""

from __future__ import annotations

import time

import keras
import numpy as np

from keras_transfer.adaptation._adapt_batchnorm import adapt_batchnorm
from keras_transfer.adaptation._build_dann import build_dann
from keras_transfer.adaptation._dann_data import dann_data
from keras_transfer.adaptation._label_free_score import label_free_score
from keras_transfer.adaptation.tent import Tent

SHIFTS = ("clean", "contrast", "blur", "noise")


def _blur(x: np.ndarray, sigma: float) -> np.ndarray:
    radius = int(3 * sigma + 0.5)
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps /= taps.sum()
    padded = np.pad(x, ((0, 0), (radius, radius), (radius, radius), (0, 0)))
    rows = sum(w * padded[:, i : i + x.shape[1], :, :] for i, w in enumerate(taps))
    return sum(w * rows[:, :, i : i + x.shape[2], :] for i, w in enumerate(taps))


def shift_images(x: np.ndarray, kind: str, seed: int = 0) -> np.ndarray:
    """Applies a named shift to images in [0, 1], shape `(n, h, w, 1)`.

    `clean`: unchanged. `contrast`: `0.3 * x + 0.6` (low contrast, bright).
    `blur`: Gaussian blur, sigma 1.5 px. `noise`: additive Gaussian noise,
    std 0.4, clipped to [0, 1].
    """
    x = np.asarray(x, "float32")
    if kind == "clean":
        return x
    if kind == "contrast":
        return 0.3 * x + 0.6
    if kind == "blur":
        return _blur(x, 1.5).astype("float32")
    if kind == "noise":
        noise = np.random.default_rng(seed).normal(0.0, 0.4, x.shape)
        return np.clip(x + noise, 0.0, 1.0).astype("float32")
    raise ValueError(f"`kind` must be one of {SHIFTS}. Received: kind={kind!r}")


def bn_cnn_features(input_shape: tuple, width: int = 16) -> keras.Model:
    """Three Conv-BN-ReLU blocks + global average pooling (a feature vector).

    The first convolution is `valid`, so a brightness / contrast change is an
    exact per-channel affine change of the first BatchNorm's input.
    """
    inp = keras.Input(input_shape)
    x = inp
    for i in range(3):
        x = keras.layers.Conv2D(width * 2**i, 3, padding="valid" if i == 0 else "same")(
            x
        )
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.ReLU()(x)
        if x.shape[1] >= 2:
            x = keras.layers.MaxPooling2D()(x)
    return keras.Model(inp, keras.layers.GlobalAveragePooling2D()(x), name="features")


def bn_cnn(input_shape: tuple, num_classes: int = 10) -> keras.Model:
    """`bn_cnn_features` + a Dense logits head."""
    features = bn_cnn_features(input_shape)
    out = keras.layers.Dense(num_classes, dtype="float32")(features.output)
    return keras.Model(features.input, out, name="bn_cnn")


def _loss() -> keras.losses.Loss:
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1)


def train_source(
    x: np.ndarray, y: np.ndarray, epochs: int = 3, batch_size: int = 64
) -> keras.Model:
    """Trains `bn_cnn` on labelled source images (Adam 1e-3).

    A few epochs leave Keras's momentum-0.99 moving averages far from the
    real statistics, so the source model gets its exact source statistics
    with `adapt_batchnorm` on the training images (otherwise "source-only"
    would be broken on clean data too).
    """
    model = bn_cnn(x.shape[1:], int(y.max()) + 1)
    model.compile(keras.optimizers.Adam(1e-3), _loss(), metrics=["accuracy"])
    model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0)
    adapt_batchnorm(model, x, batch_size=256)
    return model


def train_dann(
    x: np.ndarray,
    y: np.ndarray,
    x_target: np.ndarray,
    epochs: int = 3,
    batch_size: int = 64,
) -> keras.Model:
    """Trains a DANN (`build_dann` on `bn_cnn_features`); returns the classifier.

    Its BatchNorm statistics are set exactly on the source + target mixture
    it was trained on (as `train_source` does for the source model).
    """
    xs, ys = dann_data(x, y, x_target)
    steps = epochs * -(-len(xs) // batch_size)
    model = build_dann(
        bn_cnn_features(x.shape[1:]), int(y.max()) + 1, schedule_steps=steps
    )
    model.compile(
        keras.optimizers.Adam(1e-3),
        {"label": _loss(), "domain": keras.losses.BinaryCrossentropy(from_logits=True)},
    )
    model.fit(xs, ys, epochs=epochs, batch_size=batch_size, verbose=0)
    classifier = keras.Model(model.input, model.output["label"])
    adapt_batchnorm(classifier, xs, batch_size=256)
    return classifier


def _accuracy(model: keras.Model, x: np.ndarray, y: np.ndarray) -> float:
    logits = model.predict(x, batch_size=256, verbose=0)
    return float(np.mean(logits.argmax(-1) == y))


def compare_methods(
    model: keras.Model,
    x_adapt: np.ndarray,
    x_eval: np.ndarray,
    y_eval: np.ndarray,
    methods: tuple = ("source", "adabn", "tent"),
    tent_epochs: int = 1,
    tent_lr: float = 1e-3,
    batch_size: int = 64,
) -> dict:
    """Accuracy and label-free IM score of each method on one target domain.

    `model` is the source-trained classifier (logits); it is restored to its
    source weights after each method. `x_adapt` (unlabelled) is what the
    methods adapt on; accuracy is measured on the held-out `x_eval`.

    Methods: `source` (no adaptation), `adabn` (`adapt_batchnorm`), `tent`
    (AdaBN, then `Tent` for `tent_epochs` with Adam(`tent_lr`), then AdaBN
    again so the moving statistics match the adapted affine parameters).

    Returns:
        `{method: {"accuracy", "im_score", "seconds"}}` (`seconds`: the
        adaptation alone, tracing and compilation included).
    """
    source_weights = model.get_weights()
    results = {}
    for method in methods:
        model.set_weights(source_weights)
        start = time.perf_counter()
        if method in ("adabn", "tent"):
            adapt_batchnorm(model, x_adapt, batch_size=256)
        if method == "tent":
            tent = Tent(model, from_logits=True)
            tent.model.compile(keras.optimizers.Adam(tent_lr))
            tent.model.fit(
                x_adapt, batch_size=batch_size, epochs=tent_epochs, verbose=0
            )
            tent.restore()
            adapt_batchnorm(model, x_adapt, batch_size=256)
        elif method not in ("source", "adabn"):
            raise ValueError(
                "`methods` may contain 'source', 'adabn', 'tent'. "
                f"Received: methods={methods!r}"
            )
        seconds = time.perf_counter() - start
        results[method] = {
            "seconds": seconds,
            "accuracy": _accuracy(model, x_eval, y_eval),
            "im_score": label_free_score(model, x_eval, from_logits=True)["im_score"],
        }
    model.set_weights(source_weights)
    return results
