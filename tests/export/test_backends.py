"""On the JAX and torch backends, export says to run it with TensorFlow.

Runs on every backend: there for real, on TensorFlow with the backend name
faked. Nothing is converted or written either way.
"""

import os

import keras
import pytest

from keras_transfer.export import export_model


@pytest.mark.parametrize("format", ["litert", "onnx", "tf_saved_model"])
def test_other_backends_are_told_to_use_tensorflow(tmp_path, monkeypatch, format):
    if keras.backend.backend() == "tensorflow":
        monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(2, activation="softmax")])  # fmt: skip
    with pytest.raises(ValueError) as info:
        export_model(model, tmp_path / "m.tflite", format)
    message = str(info.value)
    assert "needs the TensorFlow backend" in message
    assert "backend-independent" in message and "KERAS_BACKEND=tensorflow" in message
    assert f"keras.backend.backend()={keras.backend.backend()!r}" in message
    assert os.listdir(tmp_path) == []
