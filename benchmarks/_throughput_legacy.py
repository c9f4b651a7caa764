"""Private to benchmarks/throughput.py: the `tf_keras+hub.KerasLayer` peer and exports.

The code path of the TF2 transfer-learning tutorials: a tf_keras Sequential
with `hub.KerasLayer` over a SavedModel (here one exported from the same
Keras 3 backbone with `export_reusable_savedmodel`). tf_keras and
tensorflow_hub are imported only here, only when this peer runs.
"""

from __future__ import annotations

import os
import tempfile
import time
import warnings

import _throughput_cells as tc
import _throughput_models as tm
import keras
import numpy as np


def unavailable_reason(no_tensorflow: bool) -> str | None:
    """Why the SavedModel-based rows cannot run here, or None."""
    if no_tensorflow:
        return "TensorFlow unavailable (--no-tensorflow)"
    if keras.backend.backend() != "tensorflow":
        return (
            f"needs KERAS_BACKEND=tensorflow to export the SavedModel "
            f"(running on {keras.backend.backend()})"
        )
    try:
        import tensorflow  # noqa: F401
    except ImportError as error:
        return f"TensorFlow not installed ({error})"
    return None


def legacy_reason(no_tensorflow: bool) -> str | None:
    """Why the tf_keras+hub peer cannot run here, or None."""
    reason = unavailable_reason(no_tensorflow)
    if reason:
        return reason
    try:
        import tensorflow_hub  # noqa: F401
        import tf_keras  # noqa: F401
    except ImportError as error:
        return f"tf_keras / tensorflow_hub not installed ({error})"
    return None


def export_backbone(name: str, size: int, root: str) -> str:
    """Exports a random-init `name` backbone as a Reusable SavedModel."""
    from keras_transfer.layers import export_reusable_savedmodel

    keras.utils.set_random_seed(0)
    backbone = tm.build_backbone(name, size)
    path = os.path.join(root, f"{name}_{size}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export_reusable_savedmodel(backbone, path)
    return path


def export_root() -> str:
    return tempfile.mkdtemp(prefix="throughput_hub_")


class LegacyCell(tc.KerasCell):
    """tf_keras Sequential([hub.KerasLayer(path, trainable=...), Dense]).

    float32, tf_keras defaults (no XLA): the tutorials' configuration.
    `measure` is KerasCell's (`train_on_batch` / a timed `fit`).
    """

    def __init__(self, spec: dict, data: tuple, auto_choice: object, settings: dict):
        super().__init__(spec, data, auto_choice, settings)
        self.extra.update(policy="float32", pipeline_input="tf.data")

    def setup(self) -> None:
        import tensorflow as tf
        import tensorflow_hub as hub
        import tf_keras

        spec, (x, y) = self.spec, self.data
        tf_keras.utils.set_random_seed(0)
        size = spec["image_size"]
        model = self.model = tf_keras.Sequential(
            [
                hub.KerasLayer(
                    spec["hub_path"],
                    trainable=spec["phase"] == "full",
                    input_shape=(size, size, 3),
                ),
                tf_keras.layers.Dense(tm.NUM_CLASSES),
            ]
        )
        model.compile(
            optimizer=tf_keras.optimizers.Adam(1e-3),
            loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        batch = spec["batch_size"]
        self.xb, self.yb = tf.constant(x[:batch]), tf.constant(y[:batch])
        start = time.perf_counter()
        float(np.asarray(model.train_on_batch(self.xb, self.yb)))
        self.extra["compile_seconds"] = time.perf_counter() - start
        for _ in range(self.settings["warmup"]):
            model.train_on_batch(self.xb, self.yb)
        self.pipeline = (
            tf.data.Dataset.from_tensor_slices((x, y)).batch(batch).prefetch(2)
        )
        self.extra["jit_compile"] = bool(getattr(model, "_jit_compile", False) or False)
        if "pipeline" in self.samples:
            self._fit_pipeline()

    def _fit_pipeline(self, warm: bool = False) -> float:
        import tf_keras

        marks = []

        class Timer(tf_keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                float((logs or {}).get("loss", 0.0))
                marks.append(time.perf_counter())

        self.model.fit(self.pipeline, epochs=1, verbose=0, callbacks=[Timer()])
        return (len(marks) - 1) * self.spec["batch_size"] / (marks[-1] - marks[0])

    def close(self) -> None:
        self.model = self.xb = self.yb = self.pipeline = None
