"""keras-transfer fit -> export (LiteRT float / int8, ONNX) on real PNG files.

`fit` trains a tiny model (a conv net exported as a TF Hub SavedModel is the
backbone) on bright vs dark images; `export` finds the training images and
the held-out files in the report `fit` wrote beside the model, calibrates
int8 on the first and checks the artifact on the second. The tests then run
each artifact in its runtime on the held-out PNG files and compare with the
reloaded `.keras` model.
"""

import json
import os
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest
from _tiny_backbone import export_tiny_savedmodel
from PIL import Image

from keras_transfer import cli

SIZE = 16
CLASSES = ["bright", "dark"]

# Every test needs the model `fit` saves (about 10 s to train).
pytestmark = [pytest.mark.tensorflow_only, pytest.mark.slow]


def _write_images(root, per_class, seed):
    rng = np.random.default_rng(seed)
    for name, low in (("bright", 150), ("dark", 0)):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = rng.integers(low, low + 106, (SIZE, SIZE, 3)).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{seed}_{i}.png")
    return root


def _pixels(folder):
    paths = sorted(folder.rglob("*.png"))
    return np.stack([np.asarray(Image.open(p).convert("RGB")) for p in paths]).astype(
        "float32"
    )


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """Runs `keras-transfer fit` once (16 px, 24 training files, 8 held out)."""
    root = tmp_path_factory.mktemp("fit_export")
    backbone = export_tiny_savedmodel(str(root / "hub"), SIZE)
    data = _write_images(root / "data", per_class=16, seed=0)
    held_out = _write_images(root / "held_out", per_class=6, seed=1)
    out = root / "model.keras"
    status = cli.main([
        "fit", str(data), "--backbone", backbone, "--image-size", str(SIZE),
        "--head-epochs", "30", "--epochs", "1", "--batch-size", "8",
        "--validation-split", "0.25", "--learning-rate", "0.05", "--out", str(out),
    ])  # fmt: skip
    assert status == 0
    model = keras.saving.load_model(out, safe_mode=False)
    pixels = _pixels(held_out)
    expected = model.predict(pixels, verbose=0)
    labels = np.repeat([0, 1], 6)
    assert (expected.argmax(-1) == labels).all(), (
        "the fixture model must separate the classes"
    )
    return {"root": root, "out": out, "held_out": held_out, "pixels": pixels,
            "expected": expected, "report": json.loads((root / "model.json").read_text())}  # fmt: skip


def test_litert_export_of_a_fit_model_equals_keras(fitted, tmp_path, capsys):
    """The `--format litert` regression: the temporary name keeps `.tflite`."""
    from keras_transfer.export import load_artifact, read_class_names

    out = tmp_path / "model.tflite"
    status = cli.main(
        ["export", str(fitted["out"]), str(out), "--format", "litert", "--unsafe"]
    )
    captured = capsys.readouterr()
    assert status == 0, captured.err
    run = load_artifact(str(out))
    np.testing.assert_allclose(run(fitted["pixels"]), fitted["expected"], atol=1e-4)
    assert read_class_names(str(out)) == CLASSES
    assert (tmp_path / "labels.txt").read_text().split() == CLASSES
    sidecar = json.loads((tmp_path / "model.tflite.keras_transfer.json").read_text())
    check = sidecar["report"]["check"]
    # Checked on the fit report's held-out files.
    assert check["num_images"] == len(fitted["report"]["validation_files"]) == 8
    assert (
        check["top1_agreement"] == 1.0
        and check["max_abs_probability_difference"] < 1e-4
    )
    assert sidecar["image_size"] == SIZE and sidecar["class_names"] == CLASSES
    assert "top-1 agreement 100.0%" in captured.out and "(litert," in captured.out
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".tmp")]


def test_int8_export_calibrates_on_the_fit_report_and_takes_uint8(
    fitted, tmp_path, capsys
):
    from ai_edge_litert.interpreter import Interpreter

    out = tmp_path / "int8.tflite"  # the format comes from the suffix
    status = cli.main(["export", str(fitted["out"]), str(out), "--quantize", "int8",
                       "--io-type", "uint8", "--unsafe"])  # fmt: skip
    captured = capsys.readouterr()
    assert status == 0, captured.err
    report = json.loads((tmp_path / "int8.tflite.keras_transfer.json").read_text())[
        "report"
    ]
    assert (
        report["calibration"]["num_images"]
        == fitted["report"]["data"]["num_train"]
        == 24
    )
    assert report["quantization"]["input_quantization"] == {
        "scale": 1.0,
        "zero_point": 0,
    }
    assert "calibrated on 24 images" in captured.out
    interpreter = Interpreter(model_path=str(out))
    interpreter.allocate_tensors()
    source, target = (
        interpreter.get_input_details()[0],
        interpreter.get_output_details()[0],
    )
    got = []
    for image in fitted["pixels"].astype(np.uint8):  # raw PNG pixels, nothing else
        interpreter.set_tensor(source["index"], image[None])
        interpreter.invoke()
        got.append(interpreter.get_tensor(target["index"])[0])
    assert (np.argmax(got, -1) == fitted["expected"].argmax(-1)).all()


def test_onnx_export_of_a_fit_model(fitted, tmp_path, capsys):
    import onnxruntime

    out = tmp_path / "model.onnx"
    assert cli.main(["export", str(fitted["out"]), str(out), "--unsafe"]) == 0, (
        capsys.readouterr().err
    )
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"image": fitted["pixels"]})
    np.testing.assert_allclose(got, fitted["expected"], atol=1e-4)
    meta = session.get_modelmeta().custom_metadata_map
    assert json.loads(meta["class_names"]) == CLASSES


def test_quantize_for_onnx_is_refused_naming_the_argument(fitted, tmp_path, capsys):
    status = cli.main(["export", str(fitted["out"]), str(tmp_path / "m.onnx"),
                       "--quantize", "int8", "--unsafe"])  # fmt: skip
    err = capsys.readouterr().err
    assert status == 2 and "Traceback" not in err
    assert "`--quantize int8` applies to --format litert only" in err
    assert os.listdir(tmp_path) == []
    with pytest.raises(SystemExit) as exit_info:  # not a choice: argparse refuses it
        cli.main(
            [
                "export",
                str(fitted["out"]),
                str(tmp_path / "m.tflite"),
                "--quantize",
                "int4",
            ]
        )
    assert exit_info.value.code == 2
    assert "argument --quantize: invalid choice: 'int4'" in capsys.readouterr().err


def test_int8_without_a_fit_report_asks_for_calibration(fitted, tmp_path, capsys):
    alone = tmp_path / "alone.keras"
    shutil.copy(fitted["out"], alone)  # no alone.json beside it
    status = cli.main(["export", str(alone), str(tmp_path / "m.tflite"), "--quantize", "int8",
                       "--unsafe"])  # fmt: skip
    err = capsys.readouterr().err
    assert status == 2 and "Traceback" not in err and "--calibration DIR" in err
    assert os.listdir(tmp_path) == ["alone.keras"]


def test_empty_check_folder_is_refused_before_converting(fitted, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    status = cli.main(["export", str(fitted["out"]), str(tmp_path / "m.tflite"), "--unsafe",
                       "--check-images", str(empty)])  # fmt: skip
    err = capsys.readouterr().err
    assert status == 2 and "`check_images` names no readable image" in err
    assert os.listdir(tmp_path) == ["empty"]


def test_failed_check_exits_2_and_writes_nothing(fitted, tmp_path, capsys):
    """A model whose probabilities are 0.5 +- 2e-4: int8 cannot keep its top-1."""
    from keras_transfer.cli import _model_file

    model = keras.Sequential([
        keras.Input((SIZE, SIZE, 3)), keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(2, activation="softmax"),
    ])  # fmt: skip
    e = 1e-6
    model.layers[-1].set_weights([np.array([[e, -e]] * 3, "float32"),
                                  np.array([-382.5 * e, 382.5 * e], "float32")])  # fmt: skip
    near_tie = tmp_path / "near_tie.keras"
    _model_file.save(model, str(near_tie), _model_file.metadata(CLASSES, SIZE))
    out = tmp_path / "out"
    out.mkdir()
    status = cli.main(["export", str(near_tie), str(out / "m.tflite"), "--quantize", "int8",
                       "--calibration", str(fitted["held_out"])])  # fmt: skip
    err = capsys.readouterr().err
    assert status == 2 and "Traceback" not in err
    assert "the export failed its check" in err and "below min_agreement=0.95" in err
    assert os.listdir(out) == []
    # --min-agreement accepts it.
    status = cli.main(["export", str(near_tie), str(out / "m.tflite"), "--quantize", "int8",
                       "--calibration", str(fitted["held_out"]), "--min-agreement", "0.4"])  # fmt: skip
    assert status == 0, capsys.readouterr().err
    assert sorted(os.listdir(out)) == [
        "labels.txt",
        "m.tflite",
        "m.tflite.keras_transfer.json",
    ]


def test_on_jax_the_message_says_to_use_tensorflow(fitted, tmp_path):
    env = dict(os.environ, KERAS_BACKEND="jax")
    result = subprocess.run(
        [sys.executable, "-m", "keras_transfer.cli", "export", str(fitted["out"]),
         str(tmp_path / "m.tflite"), "--unsafe"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr[-2000:]
    assert "needs the TensorFlow backend" in result.stderr
    assert "KERAS_BACKEND=tensorflow keras-transfer export" in result.stderr
    assert "backend-independent" in result.stderr and "Traceback" not in result.stderr
    assert os.listdir(tmp_path) == []
