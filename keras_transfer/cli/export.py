"""`keras-transfer export MODEL OUT`: a LiteRT, ONNX or SavedModel file, checked.

Parses, finds the images, and calls `keras_transfer.export.export_model`:

- `--format` (default from OUT's suffix: `.tflite` litert, `.onnx` onnx,
  else tf_saved_model), `--quantize` (litert: none, float16, dynamic, int8),
  `--io-type` (int8: float32, uint8 or int8 input and output);
- the images come from the `fit` report beside MODEL (`MODEL.json`, written
  by `keras-transfer fit`): int8 calibrates on its training images (its
  `data_dir` less its `validation_files`) unless `--calibration DIR`; the
  check runs on its `validation_files` unless `--check-images DIR`;
- the class names inside the `.keras` file (`keras_transfer.json`) go inside
  the artifact and beside it (`labels.txt`, `OUT.keras_transfer.json`, or
  inside a SavedModel directory).

The artifact is written under a temporary name with OUT's suffix, run in its
runtime, compared with the `.keras` model, and renamed onto OUT only when the
top-1 agreement reaches `--min-agreement`; otherwise nothing is written and
the exit status is 2.
"""

from __future__ import annotations

import argparse
import json
import os

import keras

from keras_transfer.cli import _model_file
from keras_transfer.cli._errors import UserError
from keras_transfer.data.class_folders import list_images
from keras_transfer.export import ExportCheckError, export_model
from keras_transfer.export._options import FORMATS

_SUFFIX_FORMATS = {".tflite": "litert", ".onnx": "onnx"}


def _format(args: argparse.Namespace, out: str) -> str:
    format = args.format or _SUFFIX_FORMATS.get(
        os.path.splitext(out)[1], "tf_saved_model"
    )
    if format not in FORMATS:
        raise UserError(
            f"`--format` {format!r}: keras-transfer exports {', '.join(FORMATS)}. "
            f"Received: format={format!r}"
        )
    if args.quantize != "none" and format != "litert":
        raise UserError(
            f"`--quantize {args.quantize}` applies to --format litert only (float16, "
            f"dynamic and int8 LiteRT models); the {format} export is float32. Drop "
            f"--quantize or use --format litert. Received: format={format!r}, "
            f"quantize={args.quantize!r}"
        )
    if args.io_type != "float32" and args.quantize != "int8":
        raise UserError(
            f"`--io-type {args.io_type}` (integer input and output) needs --quantize "
            f"int8. Received: quantize={args.quantize!r}, io_type={args.io_type!r}"
        )
    return format


def _fit_report(model_path: str) -> dict:
    """The report `fit` wrote beside MODEL (`MODEL.json`), or `{}`."""
    path = os.path.splitext(model_path)[0] + ".json"
    try:
        with open(path) as handle:
            report = json.load(handle)
    except (OSError, ValueError):
        return {}
    return report if isinstance(report, dict) else {}


def _images(args: argparse.Namespace, report: dict) -> tuple:
    """`(calibration, check images, where each came from)`: the flags, else the fit report."""
    held_out = [p for p in report.get("validation_files") or [] if os.path.isfile(p)]
    calibration, check = args.calibration, args.check_images
    sources = {"calibration": calibration, "check": check}
    data_dir = report.get("data_dir")
    if calibration is None and data_dir and os.path.isdir(data_dir):
        skip = set(held_out)
        calibration = [p for p in list_images(data_dir) if p not in skip] or None
        sources["calibration"] = f"the training images of the fit report ({data_dir})"
    if check is None and held_out:
        check = held_out
        sources["check"] = "the fit report's held-out files"
    elif check is None:
        sources["check"] = sources["calibration"]
    return calibration, check, sources


def _summary(model: str, report: dict, sources: dict) -> str:
    how, check = report["quantization"], report["check"]
    quantized = f"{how['quantize']}"
    if how["quantize"] != "none" and "weights" in how:
        quantized += f" (weights {how['weights']}; activations {how['activations']})"
    io = f"input {how['input_dtype']}, output {how['output_dtype']}"
    if how.get("input_quantization"):
        q = how["input_quantization"]
        io += f" (input scale {q['scale']:.6g}, zero point {q['zero_point']})"
    calibrated = report.get("calibration")
    lines = [
        f"exported {model} -> {report['path']} ({report['format']}, "
        f"{report['bytes'] / 1024:.1f} KB)",
        f"- quantization: {quantized}; {io}",
        *([f"- calibrated on {calibrated['num_images']} images: "
           f"{sources['calibration'] or calibrated['source']}"] if calibrated else []),
        f"- class names ({len(report['class_names'] or [])}): inside the artifact; beside "
        f"it: {', '.join(report['files'].values())}",
        f"- check in {check['runtime']} on {check['num_images']} images "
        f"({sources['check'] or check['source']}): top-1 agreement "
        f"{check['top1_agreement']:.1%} (min {check['min_agreement']:.0%}), max "
        f"probability difference {check['max_abs_probability_difference']:.2g}, "
        f"{check['latency_ms']:.3g} ms per image",
    ]  # fmt: skip
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Runs `keras-transfer export`; see the module docstring."""
    out = args.out.rstrip(os.sep) or args.out
    format = _format(args, out)
    if os.path.lexists(out) and not args.overwrite:
        raise UserError(
            f"`OUT` exists. Pass --overwrite to replace it, or choose another OUT. "
            f"Nothing was changed. Received: out={args.out!r}"
        )
    if keras.backend.backend() != "tensorflow":
        raise UserError(
            "`keras-transfer export` needs the TensorFlow backend (the LiteRT and ONNX "
            "converters and SavedModels are TensorFlow's); Keras is running on "
            f"{keras.backend.backend()!r}. The .keras file is backend-independent: run "
            f"`KERAS_BACKEND=tensorflow keras-transfer export {args.model} {args.out} "
            "...`. Received: KERAS_BACKEND="
            f"{os.environ.get('KERAS_BACKEND', keras.backend.backend())!r}"
        )
    model, info = _model_file.load(args.model, args.unsafe)
    calibration, check, sources = _images(args, _fit_report(args.model))
    try:
        report = export_model(
            model, out, format, quantize=args.quantize, io_type=args.io_type,
            calibration=calibration, check_images=check, min_agreement=args.min_agreement,
            max_images=args.max_images, info=info, overwrite=args.overwrite,
            num_threads=args.threads,
        )  # fmt: skip
    except ExportCheckError as error:
        raise UserError(f"the export failed its check: {error}") from error
    except ValueError as error:
        raise UserError(str(error)) from error
    print(_summary(args.model, report, sources))
    return 0
