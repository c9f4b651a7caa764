"""Private: an exported artifact run in the runtime it was made for.

- `.tflite`: the LiteRT interpreter of `ai-edge-litert` (the maintained
  one), else `tf.lite.Interpreter` (deprecated in TensorFlow 2.20+, same
  kernels). Integer inputs and outputs are (de)quantized with the tensor's own
  scale and zero point, so every runner takes float RGB pixels 0-255 and
  returns float class probabilities.
- `.onnx`: ONNX Runtime on the CPU.
- a SavedModel directory: TensorFlow, the `serve` endpoint `model.export()` wrote.
"""

from __future__ import annotations

import os
import time
import warnings

import numpy as np

TFLITE_IDENTIFIER = b"TFL3"


def kind_of(path: str) -> str:
    """`"litert"`, `"onnx"` or `"tf_saved_model"` from what `path` holds."""
    if os.path.isdir(path):
        if os.path.exists(os.path.join(path, "saved_model.pb")):
            return "tf_saved_model"
    elif os.path.isfile(path):
        with open(path, "rb") as handle:
            head = handle.read(8)
        if head[4:8] == TFLITE_IDENTIFIER or path.endswith(".tflite"):
            return "litert"
        if path.endswith(".onnx"):
            return "onnx"
    raise ValueError(
        "`path` must be a .tflite file, a .onnx file or a SavedModel directory "
        f"(with saved_model.pb). Received: path={path!r}"
    )


def _interpreter(path: str, num_threads: int | None) -> tuple:
    try:
        from ai_edge_litert import interpreter as litert

        return litert.Interpreter(
            model_path=path, num_threads=num_threads
        ), "ai-edge-litert"
    except ImportError:
        import tensorflow as tf

        with warnings.catch_warnings():  # "tf.lite.Interpreter is deprecated"
            warnings.simplefilter("ignore")
            interpreter = tf.lite.Interpreter(model_path=path, num_threads=num_threads)
        return interpreter, f"tf.lite.Interpreter (TensorFlow {tf.__version__})"


def _quantization(detail: dict) -> dict | None:
    scale, zero_point = detail["quantization"]
    if np.dtype(detail["dtype"]).kind == "f" or not scale:
        return None
    return {"scale": float(scale), "zero_point": int(zero_point)}


class LiteRTRunner:
    """A `.tflite` model in the LiteRT interpreter, one image per `invoke()`."""

    format = "litert"

    def __init__(self, path: str, num_threads: int | None = None) -> None:
        self.interpreter, self.runtime = _interpreter(path, num_threads)
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        self.image_size = tuple(int(d) for d in self.input["shape"][1:3])
        self.input_dtype = np.dtype(self.input["dtype"]).name
        self.output_dtype = np.dtype(self.output["dtype"]).name
        self.input_quantization = _quantization(self.input)
        self.output_quantization = _quantization(self.output)

    def _quantize(self, image: np.ndarray) -> np.ndarray:
        if self.input_quantization is None:
            return image[None].astype(self.input["dtype"])
        q = self.input_quantization
        info = np.iinfo(self.input["dtype"])
        values = np.round(image / q["scale"] + q["zero_point"])
        return np.clip(values, info.min, info.max)[None].astype(self.input["dtype"])

    def _dequantize(self, values: np.ndarray) -> np.ndarray:
        if self.output_quantization is None:
            return values.astype("float32")
        q = self.output_quantization
        return ((values.astype("float32") - q["zero_point"]) * q["scale"]).astype(
            "float32"
        )

    def predict_one(self, image: np.ndarray) -> np.ndarray:
        """Class probabilities `(C,)` of one float RGB image `(H, W, 3)`, 0-255."""
        self.interpreter.set_tensor(self.input["index"], self._quantize(image))
        self.interpreter.invoke()
        return self._dequantize(self.interpreter.get_tensor(self.output["index"])[0])

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities `(n, C)` of float RGB images `(n, H, W, 3)`, 0-255."""
        return np.stack(
            [self.predict_one(image) for image in np.asarray(images, "float32")]
        )


class ONNXRunner:
    """A `.onnx` model in ONNX Runtime (CPU), batches of 32."""

    format = "onnx"
    input_quantization = output_quantization = None
    input_dtype = output_dtype = "float32"

    def __init__(self, path: str, num_threads: int | None = None) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        if num_threads:
            options.intra_op_num_threads = num_threads
        self.session = onnxruntime.InferenceSession(
            path, options, providers=["CPUExecutionProvider"]
        )
        self.runtime = f"onnxruntime {onnxruntime.__version__}"
        self.input = self.session.get_inputs()[0]
        self.image_size = tuple(int(d) for d in self.input.shape[1:3])
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)

    def predict_one(self, image: np.ndarray) -> np.ndarray:
        return self(np.asarray(image)[None])[0]

    def __call__(self, images: np.ndarray) -> np.ndarray:
        images = np.asarray(images, "float32")
        parts = [
            self.session.run(None, {self.input.name: images[i : i + 32]})[0]
            for i in range(0, len(images), 32)
        ]
        return np.concatenate(parts).astype("float32")


class SavedModelRunner:
    """A SavedModel's `serve` endpoint in TensorFlow, batches of 32."""

    format = "tf_saved_model"
    input_quantization = output_quantization = None
    input_dtype = output_dtype = "float32"

    def __init__(self, path: str, num_threads: int | None = None) -> None:
        import tensorflow as tf

        self.loaded = tf.saved_model.load(path)
        self.serve = (
            getattr(self.loaded, "serve", None)
            or self.loaded.signatures["serving_default"]
        )
        self.runtime = f"TensorFlow {tf.__version__}"
        signature = self.loaded.signatures.get("serving_default")
        specs = (
            list(signature.structured_input_signature[1].values()) if signature else []
        )
        self.image_size = tuple(specs[0].shape[1:3]) if specs else None

    def predict_one(self, image: np.ndarray) -> np.ndarray:
        return self(np.asarray(image)[None])[0]

    def __call__(self, images: np.ndarray) -> np.ndarray:
        images = np.asarray(images, "float32")
        parts = []
        for i in range(0, len(images), 32):
            out = self.serve(images[i : i + 32])
            if isinstance(out, dict):
                out = next(iter(out.values()))
            parts.append(np.asarray(out))
        return np.concatenate(parts).astype("float32")


RUNNERS = {
    "litert": LiteRTRunner,
    "onnx": ONNXRunner,
    "tf_saved_model": SavedModelRunner,
}


def latency_ms(runner: object, images: np.ndarray, repeats: int = 1) -> float:
    """Median wall milliseconds of one single-image prediction (after one warm-up)."""
    images = np.asarray(images, "float32")
    runner.predict_one(images[0])
    times = []
    for _ in range(repeats):
        for image in images:
            start = time.perf_counter()
            runner.predict_one(image)
            times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000.0)
