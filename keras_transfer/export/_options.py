"""Private: the formats and quantizations `export_model` offers, checked up front."""

from __future__ import annotations

FORMATS = ("tf_saved_model", "litert", "onnx")
QUANTIZATIONS = ("none", "float16", "dynamic", "int8")
IO_TYPES = ("float32", "uint8", "int8")
# Default `min_agreement` (top-1 agreement with the Keras model on the check
# images) per quantization: float artifacts compute what Keras computes;
# quantized ones may flip near-ties.
MIN_AGREEMENT = {"none": 0.99, "float16": 0.98, "dynamic": 0.95, "int8": 0.95}
SUFFIXES = {"tf_saved_model": "", "litert": ".tflite", "onnx": ".onnx"}


def check(
    format: str, quantize: str, io_type: str, min_agreement: float | None
) -> None:
    """Raises `ValueError` naming the argument for a value or combination not offered."""
    if format not in FORMATS:
        raise ValueError(
            f"`format` must be one of {', '.join(FORMATS)}. Received: format={format!r}"
        )
    if quantize not in QUANTIZATIONS:
        raise ValueError(
            f"`quantize` must be one of {', '.join(QUANTIZATIONS)}. "
            f"Received: quantize={quantize!r}"
        )
    if quantize != "none" and format != "litert":
        raise ValueError(
            f"`quantize` applies to format 'litert' only (float16, dynamic-range and "
            f"int8 LiteRT models); a {format} export is float32: use quantize='none', "
            f"or format='litert'. Received: format={format!r}, quantize={quantize!r}"
        )
    if io_type not in IO_TYPES:
        raise ValueError(
            f"`io_type` must be one of {', '.join(IO_TYPES)}. Received: io_type={io_type!r}"
        )
    if io_type != "float32" and quantize != "int8":
        raise ValueError(
            "`io_type` uint8/int8 (integer input and output, for integer-only "
            "devices) needs quantize='int8' (a full-integer model). "
            f"Received: quantize={quantize!r}, io_type={io_type!r}"
        )
    if min_agreement is not None and not 0.0 <= min_agreement <= 1.0:
        raise ValueError(
            "`min_agreement` must be a fraction in [0, 1] (top-1 agreement with the "
            f"Keras model). Received: min_agreement={min_agreement!r}"
        )
