"""`export_model`: a Keras image classifier as a LiteRT, ONNX or SavedModel file, checked."""

from __future__ import annotations

import os
import time
import warnings

import keras
import numpy as np

from keras_transfer.export import (
    _check,
    _files,
    _float32,
    _images,
    _litert,
    _onnx,
    _options,
    _runtimes,
    _tflite_metadata,
)
from keras_transfer.export.export_check_error import ExportCheckError
from keras_transfer.version import __version__

INPUT = "RGB images, pixel values 0-255, shape (n, {h}, {w}, 3)"
OUTPUT = "class probabilities, float32, shape (n, {c})"


def _check_backend() -> None:
    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise ValueError(
            "Export needs the TensorFlow backend: the LiteRT and ONNX converters and "
            f"SavedModels are TensorFlow's, and Keras is running on {backend!r}. The "
            ".keras file is backend-independent: run the export in a process started "
            "with KERAS_BACKEND=tensorflow, e.g. `KERAS_BACKEND=tensorflow "
            "keras-transfer export model.keras model.tflite --format litert`. "
            f"Received: keras.backend.backend()={backend!r}"
        )


def _image_size(model: keras.Model) -> tuple[int, int]:
    shape = tuple(model.input_shape)
    if len(shape) != 4 or shape[-1] != 3 or None in shape[1:]:
        raise ValueError(
            "`model` must take one batch of RGB images of a fixed size, input shape "
            f"(None, H, W, 3). Received: model.input_shape={shape}"
        )
    return int(shape[1]), int(shape[2])


def _names(
    model: keras.Model, class_names: list | None, info: dict | None
) -> list | None:
    names = class_names if class_names is not None else (info or {}).get("class_names")
    if names is None:
        return None
    names = [str(name) for name in names]
    classes = model.output_shape[-1]
    if len(names) != classes or any(not n or "\n" in n for n in names):
        raise ValueError(
            f"`class_names` must be {classes} non-empty one-line names, one per output "
            f"column. Received: class_names={names!r}"
        )
    return names


def _calibration(calibration: object, quantize: str, size: tuple, limit: int) -> tuple:
    """`(images for the converter or None, the images, their description)`."""
    images, source = _images.load(calibration, size, limit, "calibration")
    if quantize == "int8" and images is None:
        raise ValueError(
            "`quantize='int8'` needs calibration images: the activation ranges are "
            "measured on them. Pass `calibration` (a folder of images like the "
            "training ones, e.g. the training folder; a list of files; or an array of "
            "RGB pixels 0-255); on the command line `--calibration DIR`, or export a "
            "model whose `fit` report (MODEL.json beside it) names its training "
            "folder. Received: calibration=None"
        )
    if quantize != "int8":
        return None, images, source
    # One copy of the first image with a black and a white pixel: the input's
    # calibrated range is then exactly 0-255, so an integer input is the raw
    # pixels (uint8: scale 1, zero point 0; int8: zero point -128).
    anchor = images[0].copy()
    anchor[0, 0], anchor[-1, -1] = 0.0, 255.0
    return np.concatenate([images, anchor[None]]), images, source


def _check_images(check_images: object, calibration: np.ndarray | None, source: dict | None,
                  size: tuple, limit: int) -> tuple:  # fmt: skip
    images, description = _images.load(check_images, size, limit, "check_images")
    if images is not None:
        return images, description
    if calibration is not None:
        return calibration, source
    warnings.warn(
        "export_model checks the artifact on random pixels: it shows that the numbers "
        "match, not that the answers on real images do. HINT: pass `check_images` (a "
        "folder of images) or `calibration`.",
        stacklevel=3,
    )
    return _images.random_pixels(size, min(limit, 32)), {
        "source": "random pixels", "num_images": min(limit, 32), "skipped": 0
    }  # fmt: skip


def _info(
    info: dict | None, names: list | None, size: tuple, classes: int, how: dict
) -> dict:
    base = dict(info or {})
    base.setdefault("class_names", names)
    base.setdefault("image_size", size[0] if size[0] == size[1] else list(size))
    base.setdefault("input", INPUT.format(h=size[0], w=size[1]))
    base.setdefault("output", OUTPUT.format(c=classes))
    return {**base, "export": how}


def _write_artifact(model: keras.Model, tmp: str, format: str, quantize: str, io_type: str,
                    calibration: np.ndarray | None, info: dict, labels: bytes | None,
                    size: tuple) -> dict:  # fmt: skip
    """Writes the artifact at `tmp` with the class names inside; returns how."""
    if format == "litert":
        how = _litert.convert(model, tmp, quantize, io_type, calibration)
        with open(tmp, "rb") as handle:
            converted = handle.read()
        files = {_tflite_metadata.INFO: _files.json_bytes(info)}
        if labels is not None:
            files[_tflite_metadata.LABELS] = labels
        metadata = _tflite_metadata.build(
            model.name, "Image classifier exported by keras-transfer: RGB pixels "
            "0-255 in, class probabilities out.", size, model.output_shape[-1],
            __version__,
        )  # fmt: skip
        with open(tmp, "wb") as handle:
            handle.write(_tflite_metadata.populate(converted, metadata, files))
        return how
    if format == "onnx":
        return {"quantize": "none", **_onnx.convert(model, tmp, info)}
    model.export(tmp, format="tf_saved_model", verbose=False)
    return {"quantize": "none", "endpoint": "serve"}


def export_model(
    model: keras.Model,
    path: str,
    format: str = "tf_saved_model",
    *,
    quantize: str = "none",
    io_type: str = "float32",
    calibration: object = None,
    class_names: list | None = None,
    check_images: object = None,
    min_agreement: float | None = None,
    max_images: int = 100,
    info: dict | None = None,
    overwrite: bool = False,
    num_threads: int | None = None,
) -> dict:
    """Exports an image classifier and checks the file in its own runtime.

    The model takes RGB pixels 0-255 `(n, H, W, 3)` and returns class
    probabilities, as the models `keras-transfer fit` saves do. The artifact
    is written under a temporary name beside `path`, run in the runtime it
    is made for (the LiteRT interpreter, ONNX Runtime, TensorFlow) on sample
    images, compared with `model.predict` on the same pixels, and renamed onto
    `path` only if the top-1 agreement reaches `min_agreement`; otherwise
    nothing is left behind and `ExportCheckError` is raised.

    The class names travel inside the artifact where the format allows: a
    `.tflite` gets TFLite metadata (`TFLITE_METADATA`) with `labels.txt` as the
    output's `TENSOR_AXIS_LABELS` file, zipped inside (what LiteRT / MediaPipe
    image classifiers read); a `.onnx` gets `metadata_props["class_names"]`; a
    SavedModel directory gets `labels.txt` and `keras_transfer.json`. Beside a
    file artifact: `labels.txt` and `PATH.keras_transfer.json` (the report).
    `read_class_names(path)` reads them back.

    Export is TensorFlow work (the converters are TensorFlow's): on another
    backend a `ValueError` says to run it with `KERAS_BACKEND=tensorflow` (a
    `.keras` file is backend-independent). A model trained under a mixed
    precision policy is exported from a float32 copy.

    Args:
        model: a Keras model with input `(None, H, W, 3)`.
        path: the output: a `.tflite` or `.onnx` file, or a SavedModel directory.
        format: `"tf_saved_model"`, `"litert"` or `"onnx"`.
            Defaults to `"tf_saved_model"`.
        quantize: LiteRT only: `"none"` (float32), `"float16"` (weights),
            `"dynamic"` (int8 weights, float activations) or `"int8"` (weights
            and activations; needs `calibration`). Defaults to `"none"`.
        io_type: with `quantize="int8"`: the input and output type,
            `"float32"` (quantized inside the model) or `"uint8"` / `"int8"`
            (for integer-only devices; a uint8 input takes the raw pixels:
            the input range is calibrated to exactly 0-255). Defaults to
            `"float32"`.
        calibration: images for `int8`: a folder (searched recursively), a
            list of image files, or an array `(n, H, W, 3)` of pixels 0-255;
            at most `max_images`, spread over the sorted files. Defaults to
            `None`.
        class_names: the name of each output column. Defaults to `None`
            (`info["class_names"]` if given, else no labels).
        check_images: images to compare the artifact with the model on, like
            `calibration`. Defaults to `None`: the calibration images, else
            random pixels (with a warning).
        min_agreement: the least top-1 agreement with `model` that passes.
            Defaults to `None`: 0.99 for float32, 0.98 for float16, 0.95 for
            dynamic and int8.
        max_images: the most calibration and check images used. Defaults to
            `100`.
        info: extra JSON-able facts stored with the class names (as
            `keras_transfer.json`). Defaults to `None`.
        overwrite: replace an existing `path` (and a `labels.txt` of other
            class names beside it). Defaults to `False`.
        num_threads: CPU threads of the runtime during the check. Defaults to
            `None` (the runtime's choice).

    Returns:
        The report: `format`, `path`, `bytes`, `quantization` (what was
        quantized, how, and the integer input/output scale and zero point),
        `class_names`, `files` (labels and JSON written), `calibration`
        (source and image count), `check` (`runtime`, `num_images`,
        `top1_agreement`, `max_abs_probability_difference`,
        `mean_abs_probability_difference`, `latency_ms` per image, `passed`),
        `seconds`.

    Raises:
        ValueError: a bad argument (named), a model LiteRT cannot convert
            (the op named), or another backend than TensorFlow.
        ExportCheckError: the artifact's agreement is below `min_agreement`.

    Example:

    ```python
    import os, tempfile
    import keras, numpy as np
    from keras_transfer.export import export_model, read_class_names

    model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(4, 3),
                              keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(2, activation="softmax")])
    images = np.random.default_rng(0).uniform(0, 255, (8, 16, 16, 3))
    path = os.path.join(tempfile.mkdtemp(), "model.tflite")
    report = export_model(model, path, "litert", check_images=images,
                          class_names=["cat", "dog"])
    assert report["check"]["top1_agreement"] == 1.0
    assert report["check"]["max_abs_probability_difference"] < 1e-5
    assert read_class_names(path) == ["cat", "dog"]
    ```
    """
    start = time.perf_counter()
    _options.check(format, quantize, io_type, min_agreement)
    if not isinstance(max_images, int) or max_images < 1:
        raise ValueError(
            f"`max_images` must be an integer >= 1. Received: max_images={max_images!r}"
        )
    _check_backend()
    path = os.fspath(path)
    path = path.rstrip(os.sep) or path
    size = _image_size(model)
    names = _names(model, class_names, info)
    labels = _files.labels_text(names) if names is not None else None
    directory = format == "tf_saved_model"
    beside = _files.sidecars(path, directory)
    _files.check_target(
        path, overwrite, None if directory else beside["labels"], labels
    )
    calibration_images, sample, calibration_source = _calibration(
        calibration, quantize, size, max_images
    )
    images, images_source = _check_images(
        check_images, sample, calibration_source, size, max_images
    )
    how = {"format": format, "quantize": quantize,
           "io_type": io_type if quantize == "int8" else "float32"}  # fmt: skip
    stored = _info(info, names, size, model.output_shape[-1], how)
    tmp = _files.temporary(path, _options.SUFFIXES[format], directory)
    try:
        quantization = _write_artifact(
            _float32.as_float32(model), tmp, format, quantize, io_type,
            calibration_images, stored, labels, size,
        )  # fmt: skip
        if directory and labels is not None:
            _files.write(os.path.join(tmp, _files.LABELS), labels)
        runner = _runtimes.RUNNERS[format](tmp, num_threads=num_threads)
        quantization.update(
            input_dtype=runner.input_dtype, output_dtype=runner.output_dtype,
            input_quantization=runner.input_quantization,
            output_quantization=runner.output_quantization,
        )  # fmt: skip
        threshold = (
            _options.MIN_AGREEMENT[quantize] if min_agreement is None else min_agreement
        )
        check = _check.compare(model, runner, images, images_source, threshold)
        del runner
        report = {
            "format": format, "path": path, "bytes": _files.size(tmp),
            "quantization": quantization, "class_names": names,
            "calibration": calibration_source if quantize == "int8" else None,
            "check": check,
            "files": {**({"labels": beside["labels"]} if labels is not None else {}),
                      "info": beside["info"]},
        }  # fmt: skip
        if not check["passed"]:
            raise ExportCheckError(
                f"The exported {format} model agrees with the Keras model on "
                f"{check['top1_agreement']:.1%} of {check['num_images']} images (top-1), "
                f"below min_agreement={threshold}; max probability difference "
                f"{check['max_abs_probability_difference']:.3g}. Nothing was written. "
                "Try a milder quantization (float16, dynamic), more or more "
                "representative calibration images, or a lower min_agreement "
                "(--min-agreement) if this is acceptable.",
                report,
            )
        report["seconds"] = time.perf_counter() - start
        if directory:
            _files.write_json(
                os.path.join(tmp, _files.INFO), {**stored, "report": report}
            )
        _files.move(tmp, path)
    finally:
        _files.remove(tmp)
    if not directory:
        if labels is not None:
            _files.write(beside["labels"], labels)
        _files.write_json(beside["info"], {**stored, "report": report})
    return report
