"""`load_artifact`: an exported model, run by its own runtime, as a function."""

from __future__ import annotations

from keras_transfer.export import _runtimes


def load_artifact(path: str, num_threads: int | None = None) -> object:
    """Loads a `.tflite`, `.onnx` or SavedModel export for inference.

    The runtime is the one the artifact is deployed with: the LiteRT
    interpreter (`ai-edge-litert`, else `tf.lite.Interpreter`), ONNX Runtime,
    or TensorFlow. Integer inputs and outputs of a full-integer `.tflite` are
    quantized and dequantized with the tensor's own scale and zero point.

    Args:
        path: the artifact (kind found from its content and suffix).
        num_threads: CPU threads of the runtime; `None` lets it choose.
            Defaults to `None`.

    Returns:
        A callable: float RGB pixels 0-255 `(n, H, W, 3)` -> float32 class
        probabilities `(n, C)`. It also has `predict_one(image)`, `format`,
        `runtime` (name and version), `image_size`, `input_dtype`,
        `output_dtype` and `input_quantization` / `output_quantization`
        (`{"scale", "zero_point"}` or `None`).

    Example:

    ```python
    import os, tempfile
    import keras, numpy as np
    from keras_transfer.export import export_model, load_artifact

    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(3, activation="softmax")])
    images = np.random.default_rng(0).uniform(0, 255, (4, 8, 8, 3))
    path = os.path.join(tempfile.mkdtemp(), "model.tflite")
    export_model(model, path, "litert", check_images=images)
    run = load_artifact(path)
    np.testing.assert_allclose(run(images), model.predict(images, verbose=0), atol=1e-5)
    ```
    """
    return _runtimes.RUNNERS[_runtimes.kind_of(path)](path, num_threads=num_threads)
