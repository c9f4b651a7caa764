"""export_model: real artifacts run through their real runtimes, on PNG files.

Every artifact is read back by the runtime it is made for (the LiteRT
interpreter of ai-edge-litert, ONNX Runtime, TensorFlow), fed the pixels of
PNG files the test wrote, and compared with the Keras model's predictions.
"""

import json
import os
import zipfile

import keras
import numpy as np
import pytest
from _export_images import CLASSES, SIZE, read_images

from keras_transfer.export import (
    ExportCheckError,
    _tflite_metadata,
    export_model,
    load_artifact,
    read_class_names,
)

pytestmark = pytest.mark.tensorflow_only


def _interpreter(path):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    return interpreter


def _run_raw(interpreter, pixels):
    """Feeds each image as the input tensor's own dtype (uint8 pixels as they are)."""
    detail = interpreter.get_input_details()[0]
    output = interpreter.get_output_details()[0]
    results = []
    for image in pixels:
        interpreter.set_tensor(detail["index"], image[None].astype(detail["dtype"]))
        interpreter.invoke()
        results.append(interpreter.get_tensor(output["index"])[0])
    return np.stack(results)


@pytest.fixture(scope="module")
def held_out(folders):
    return read_images(folders["held_out"])


def _expected(classifier, pixels):
    return classifier.predict(pixels.astype("float32"), verbose=0)


@pytest.mark.slow
def test_float_litert_equals_keras_and_carries_the_labels(
    classifier, folders, held_out, tmp_path
):
    out = tmp_path / "model.tflite"
    report = export_model(classifier, out, "litert", class_names=CLASSES,
                          check_images=str(folders["held_out"]))  # fmt: skip
    pixels, _ = held_out
    interpreter = _interpreter(out)
    detail = interpreter.get_input_details()[0]
    assert list(detail["shape"]) == [1, SIZE, SIZE, 3] and detail["dtype"] == np.float32
    got = _run_raw(interpreter, pixels.astype("float32"))
    np.testing.assert_allclose(got, _expected(classifier, pixels), atol=1e-4)
    check = report["check"]
    assert check["top1_agreement"] == 1.0 and check["num_images"] == 16
    assert (
        check["max_abs_probability_difference"] < 1e-4
        and check["runtime"] == "ai-edge-litert"
    )
    assert check["latency_ms"] > 0 and report["bytes"] == os.path.getsize(out)
    # The labels: read back through the TFLite metadata, zipped inside, and beside.
    assert read_class_names(str(out)) == CLASSES
    found = _tflite_metadata.read(str(out))
    assert found["metadata"] and found["labels_file"] == "labels.txt"
    assert zipfile.ZipFile(out).read("labels.txt").decode().split() == CLASSES
    assert (
        json.loads(zipfile.ZipFile(out).read("keras_transfer.json"))["class_names"]
        == CLASSES
    )
    assert (tmp_path / "labels.txt").read_text().split() == CLASSES
    sidecar = json.loads((tmp_path / "model.tflite.keras_transfer.json").read_text())
    assert (
        sidecar["class_names"] == CLASSES
        and sidecar["report"]["check"]["top1_agreement"] == 1.0
    )
    assert sorted(os.listdir(tmp_path)) == ["labels.txt", "model.tflite",
                                            "model.tflite.keras_transfer.json"]  # fmt: skip


@pytest.mark.slow
def test_float16_litert_stores_float16_weights_and_agrees(
    classifier, held_out, tmp_path
):
    out = tmp_path / "f16.tflite"
    report = export_model(
        classifier, out, "litert", quantize="float16", check_images=held_out[0]
    )
    interpreter = _interpreter(out)
    dtypes = {np.dtype(t["dtype"]).name for t in interpreter.get_tensor_details()}
    assert "float16" in dtypes and report["quantization"]["weights"].startswith(
        "float16"
    )
    pixels = held_out[0].astype("float32")
    got = _run_raw(interpreter, pixels)
    np.testing.assert_allclose(got, _expected(classifier, pixels), atol=1e-2)
    assert report["check"]["top1_agreement"] == 1.0


@pytest.mark.slow
def test_dynamic_range_litert_has_int8_weights_float_io(classifier, held_out, tmp_path):
    out = tmp_path / "dynamic.tflite"
    report = export_model(
        classifier, out, "litert", quantize="dynamic", check_images=held_out[0]
    )
    interpreter = _interpreter(out)
    dtypes = {np.dtype(t["dtype"]).name for t in interpreter.get_tensor_details()}
    assert "int8" in dtypes
    assert interpreter.get_input_details()[0]["dtype"] == np.float32
    assert report["check"]["top1_agreement"] == 1.0
    assert report["check"]["max_abs_probability_difference"] < 0.05


@pytest.mark.slow
def test_int8_uint8_model_takes_raw_pixels_and_agrees(
    classifier, folders, held_out, tmp_path
):
    out = tmp_path / "int8.tflite"
    report = export_model(classifier, out, "litert", quantize="int8", io_type="uint8",
                          calibration=str(folders["train"]), class_names=CLASSES,
                          check_images=str(folders["held_out"]))  # fmt: skip
    quantization = report["quantization"]
    assert (
        quantization["input_dtype"] == "uint8"
        and quantization["output_dtype"] == "uint8"
    )
    # The calibrated input range is exactly 0-255: raw pixels are the input.
    assert quantization["input_quantization"] == {"scale": 1.0, "zero_point": 0}
    assert report["calibration"]["num_images"] == 32
    interpreter = _interpreter(out)
    for tensor in interpreter.get_tensor_details():
        assert np.dtype(tensor["dtype"]).name in ("uint8", "int8", "int32"), tensor[
            "name"
        ]
    pixels, labels = held_out
    got = _run_raw(interpreter, pixels)  # uint8 pixels straight from the PNG files
    expected = _expected(classifier, pixels)
    assert (got.argmax(-1) == expected.argmax(-1)).all() and (
        got.argmax(-1) == labels
    ).all()
    scale = interpreter.get_output_details()[0]["quantization"][0]
    np.testing.assert_allclose(got * scale, expected, atol=0.05)
    assert report["check"]["top1_agreement"] == 1.0
    assert read_class_names(str(out)) == CLASSES


@pytest.mark.slow
@pytest.mark.parametrize("io_type", ["float32", "int8"])
def test_int8_with_float_or_int8_io_agrees(classifier, held_out, tmp_path, io_type):
    pixels, _ = held_out
    out = tmp_path / f"int8_{io_type}.tflite"
    report = export_model(classifier, out, "litert", quantize="int8", io_type=io_type,
                          calibration=pixels)  # fmt: skip
    run = load_artifact(str(out))
    assert run.input_dtype == io_type
    if io_type == "int8":
        assert run.input_quantization == {"scale": 1.0, "zero_point": -128}
    assert (run(pixels).argmax(-1) == _expected(classifier, pixels).argmax(-1)).all()
    assert report["check"]["top1_agreement"] == 1.0


@pytest.mark.slow
def test_onnx_equals_keras_in_onnxruntime_with_class_names(
    classifier, held_out, tmp_path
):
    import onnxruntime

    out = tmp_path / "model.onnx"
    report = export_model(
        classifier, out, "onnx", class_names=CLASSES, check_images=held_out[0]
    )
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["image"]
    assert [o.name for o in session.get_outputs()] == ["probability"]
    pixels = held_out[0].astype("float32")
    (got,) = session.run(None, {"image": pixels})
    np.testing.assert_allclose(got, _expected(classifier, pixels), atol=1e-4)
    meta = session.get_modelmeta().custom_metadata_map
    assert json.loads(meta["class_names"]) == CLASSES
    assert json.loads(meta["keras_transfer"])["image_size"] == SIZE
    assert read_class_names(str(out)) == CLASSES
    assert report["check"]["runtime"].startswith("onnxruntime")
    assert report["check"]["max_abs_probability_difference"] < 1e-4


@pytest.mark.slow
def test_savedmodel_serves_the_model_with_labels_inside(classifier, held_out, tmp_path):
    import tensorflow as tf

    out = tmp_path / "served"
    report = export_model(
        classifier, out, class_names=CLASSES, check_images=held_out[0]
    )
    assert (out / "labels.txt").read_text().split() == CLASSES
    assert (
        json.loads((out / "keras_transfer.json").read_text())["class_names"] == CLASSES
    )
    assert read_class_names(str(out)) == CLASSES
    pixels = held_out[0].astype("float32")
    artifact = tf.saved_model.load(str(out))  # keep it: serve() uses its variables
    served = artifact.serve(pixels).numpy()
    np.testing.assert_allclose(
        served, _expected(classifier, pixels), rtol=1e-5, atol=1e-6
    )
    assert report["check"]["top1_agreement"] == 1.0
    assert sorted(os.listdir(tmp_path)) == ["served"]


@pytest.mark.slow
def test_mixed_precision_model_is_exported_from_a_float32_copy(held_out, tmp_path):
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        keras.utils.set_random_seed(1)
        model = keras.Sequential([
            keras.Input((SIZE, SIZE, 3)), keras.layers.Rescaling(1 / 255),
            keras.layers.Conv2D(4, 3), keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(2, activation="softmax", dtype="float32"),
        ])  # fmt: skip
    finally:
        keras.config.set_dtype_policy(policy)
    report = export_model(model, tmp_path / "m.onnx", "onnx", check_images=held_out[0])
    assert (
        report["check"]["max_abs_probability_difference"] < 2e-2
    )  # bfloat16 vs float32
    assert model.layers[1].compute_dtype == "bfloat16"  # the model itself is untouched


def test_quantize_is_for_litert_only(classifier, tmp_path):
    with pytest.raises(ValueError, match=r"`quantize` applies to format 'litert' only"):
        export_model(classifier, tmp_path / "m.onnx", "onnx", quantize="int8")
    with pytest.raises(ValueError, match=r"`format` must be one of"):
        export_model(classifier, tmp_path / "m.x", "tflite")
    with pytest.raises(
        ValueError, match=r"`io_type` uint8/int8 .* needs quantize='int8'"
    ):
        export_model(classifier, tmp_path / "m.tflite", "litert", io_type="uint8")
    with pytest.raises(ValueError, match=r"`class_names` must be 2"):
        export_model(classifier, tmp_path / "m.tflite", "litert", class_names=["a"])
    assert os.listdir(tmp_path) == []


def test_int8_without_calibration_says_how_to_provide_it(classifier, tmp_path):
    with pytest.raises(
        ValueError, match=r"needs calibration images.*--calibration DIR"
    ):
        export_model(classifier, tmp_path / "m.tflite", "litert", quantize="int8")
    assert os.listdir(tmp_path) == []


def test_existing_output_is_kept_without_overwrite(classifier, tmp_path):
    (tmp_path / "m.tflite").write_text("mine")
    with pytest.raises(ValueError, match=r"`path` exists.*overwrite"):
        export_model(classifier, tmp_path / "m.tflite", "litert")
    assert (tmp_path / "m.tflite").read_text() == "mine"
    (tmp_path / "labels.txt").write_text("cats\ndogs\n")
    with pytest.raises(ValueError, match=r"labels.txt' exists with other class names"):
        export_model(
            classifier, tmp_path / "other.tflite", "litert", class_names=CLASSES
        )
    assert sorted(os.listdir(tmp_path)) == ["labels.txt", "m.tflite"]


def _near_tie_model():
    """Probabilities 0.5 +- 2e-4: Keras's top-1 follows brightness, int8's cannot."""
    model = keras.Sequential([
        keras.Input((SIZE, SIZE, 3)), keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(2, activation="softmax"),
    ])  # fmt: skip
    e = 1e-6
    model.layers[-1].set_weights([np.array([[e, -e]] * 3, "float32"),
                                  np.array([-382.5 * e, 382.5 * e], "float32")])  # fmt: skip
    return model


@pytest.mark.slow
def test_failed_check_leaves_nothing_behind(held_out, tmp_path):
    pixels, _ = held_out
    model = _near_tie_model()
    assert len(set(model.predict(pixels.astype("float32"), verbose=0).argmax(-1))) == 2
    with pytest.raises(
        ExportCheckError, match=r"agrees with the Keras model on 50.0% of 16"
    ) as info:
        export_model(model, tmp_path / "m.tflite", "litert", quantize="int8", io_type="uint8",
                     calibration=pixels, class_names=CLASSES)  # fmt: skip
    check = info.value.report["check"]
    assert (
        not check["passed"]
        and check["top1_agreement"] == 0.5
        and check["min_agreement"] == 0.95
    )
    assert os.listdir(tmp_path) == []
    # The same numbers pass when the user accepts them.
    report = export_model(model, tmp_path / "m.tflite", "litert", quantize="int8",
                          calibration=pixels, min_agreement=0.5)  # fmt: skip
    assert report["check"]["passed"] and os.path.isfile(tmp_path / "m.tflite")


class _Determinant(keras.layers.Layer):
    """A layer with an op LiteRT has no built-in kernel for (MatrixDeterminant)."""

    def call(self, x):
        square = keras.ops.reshape(x[:, :4], (-1, 2, 2))
        return keras.ops.concatenate(
            [x, keras.ops.linalg.det(square)[:, None]], axis=-1
        )


@pytest.mark.slow
def test_unconvertible_op_is_named_and_nothing_is_left(held_out, tmp_path):
    pixels = held_out[0]
    model = keras.Sequential([
        keras.Input((SIZE, SIZE, 3)), keras.layers.Conv2D(4, 3),
        keras.layers.GlobalAveragePooling2D(), _Determinant(name="determinant"),
        keras.layers.Dense(2, activation="softmax"),
    ])  # fmt: skip
    with pytest.raises(ValueError, match=r"no built-in kernel for 'tf.MatrixDeterminant' "
                       r"\(in layer 'determinant'\).*format='onnx'"):  # fmt: skip
        export_model(model, tmp_path / "m.tflite", "litert", class_names=CLASSES,
                     check_images=pixels)  # fmt: skip
    assert os.listdir(tmp_path) == []
    # ONNX, the alternative named, has the op.
    report = export_model(model, tmp_path / "m.onnx", "onnx", check_images=pixels)
    assert report["check"]["top1_agreement"] == 1.0
