"""Private: a Keras model -> a `.tflite` file, float or quantized.

Keras's own LiteRT export (`model.export(path, format="litert")`:
`ExportArchive` -> SavedModel -> `tf.lite.TFLiteConverter`) does the
conversion; this module only chooses the converter settings:

- the input is one image, `(1, H, W, 3)` float32 (what a device runs;
  the interpreter can be resized for batches);
- only LiteRT's built-in kernels (`TFLITE_BUILTINS`, or
  `TFLITE_BUILTINS_INT8` for a full-integer model): Keras adds TensorFlow's
  "select" ops, which need the Flex delegate that the `ai-edge-litert`
  interpreter and devices do not have, so a model that needs one fails here
  with the op and the layer named, not later on the device;
- `float16`: weights stored as float16 (`supported_types=[tf.float16]`);
  `dynamic`: weights int8, activations float (quantized on the fly);
  `int8`: weights and activations int8, activation ranges calibrated on
  images through `representative_dataset`, input and output `io_type`.
"""

from __future__ import annotations

import re

import keras
import numpy as np

HOW = {
    "none": {"weights": "float32", "activations": "float32"},
    "float16": {"weights": "float16 (dequantized to float32 on the CPU)",
                "activations": "float32"},
    "dynamic": {"weights": "int8 (per-channel)",
                "activations": "float32; int8 on the fly inside conv/dense ops"},
    "int8": {"weights": "int8 (per-channel)",
             "activations": "int8, ranges calibrated on images"},
}  # fmt: skip


def _converter_settings(
    quantize: str, io_type: str, calibration: np.ndarray | None
) -> dict:
    import tensorflow as tf

    ops = tf.lite.OpsSet
    if quantize == "none":
        return {"target_spec": {"supported_ops": [ops.TFLITE_BUILTINS]}}
    settings = {"optimizations": [tf.lite.Optimize.DEFAULT]}
    if quantize == "float16":
        settings["target_spec"] = {
            "supported_ops": [ops.TFLITE_BUILTINS], "supported_types": [tf.float16]
        }  # fmt: skip
    elif quantize == "dynamic":
        settings["target_spec"] = {"supported_ops": [ops.TFLITE_BUILTINS]}
    else:

        def representative_dataset():  # noqa: ANN202
            for image in calibration:
                yield [image[None].astype("float32")]

        settings.update(
            representative_dataset=representative_dataset,
            target_spec={"supported_ops": [ops.TFLITE_BUILTINS_INT8]},
            inference_input_type=getattr(tf, io_type),
            inference_output_type=getattr(tf, io_type),
        )
    return settings


def _layer_names(layer: keras.layers.Layer) -> set:
    nested = getattr(layer, "layers", None) or []
    return {layer.name}.union(*(_layer_names(child) for child in nested))


def _layer(scope: str, names: set) -> str:
    """The Keras layer path of a TF name scope (`model/block_1/Op` -> `block`)."""
    parts = scope.split("/")[1:-1]
    # TensorFlow uniquifies a scope traced twice with `_N`: map it back.
    parts = [p if p in names else re.sub(r"_\d+$", "", p) for p in parts]
    return "/".join(parts)


def _unsupported(error: Exception, model: keras.Model) -> str:
    """`'tf.Op' (in layer L)` for each op the converter could not map, from its error."""
    found, names = [], _layer_names(model)
    for item in getattr(error, "errors", None) or []:
        op = item.operator.name if item.HasField("operator") else ""
        calls = (
            [c.name for c in item.location.call] if item.HasField("location") else []
        )
        scope = next((c.split("@")[0] for c in calls if "/" in c), "")
        layer = _layer(scope, names)
        if op:
            found.append(f"{op!r}" + (f" (in layer {layer!r})" if layer else ""))
    if not found:
        found = sorted(set(re.findall(r"'(tf\.\w+)' op is neither", str(error))))
    return ", ".join(dict.fromkeys(found))


def convert(model: keras.Model, path: str, quantize: str, io_type: str,
            calibration: np.ndarray | None) -> dict:  # fmt: skip
    """Writes `path` (ending in `.tflite`); returns how it was quantized.

    Raises:
        ValueError: the model uses an op that LiteRT has no built-in kernel for
            (the op, its layer and the alternatives named).
    """
    from tensorflow.lite.python.convert_phase import ConverterError

    shape = (1, *model.input_shape[1:])
    try:
        model.export(
            path, format="litert", verbose=False,
            input_signature=[keras.InputSpec(shape=shape, dtype="float32")],
            **_converter_settings(quantize, io_type, calibration),
        )  # fmt: skip
    except ConverterError as error:
        ops = _unsupported(error, model)
        raise ValueError(
            f"LiteRT has no built-in kernel for {ops or 'an op of this model'}, so "
            "the model cannot become a .tflite that the LiteRT interpreter (and "
            "devices) run. Alternatives: format='onnx' (ONNX Runtime has more ops), "
            "format='tf_saved_model', or replace that layer. (TensorFlow's Flex "
            "delegate could run TF ops inside LiteRT, but `ai-edge-litert` and most "
            f"devices do not ship it.) Converter: {str(error).splitlines()[0][:200]}"
        ) from error
    return {"quantize": quantize, **HOW[quantize]}
