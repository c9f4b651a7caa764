"""fit -> predict -> evaluate -> export on real PNG files, as a user runs them.

The folder: three clearly separable classes (red, green, blue images with
noise), 32 px, written by the test; a tiny conv net exported as a TF Hub
SavedModel is the backbone. Held-out files never seen by `fit` are read
with `keras.utils.load_img` (raw pixels, 0..255) and fed to the reloaded
model: its answers must be what `keras-transfer predict` prints.
"""

import json
import os
import zipfile

import keras
import numpy as np
import pytest
from _tiny_backbone import export_tiny_savedmodel
from PIL import Image

from keras_transfer import cli

SIZE = 32
CLASSES = ("blue", "green", "red")  # sorted: the output order


def _write_images(root, per_class, seed, classes=CLASSES):
    rng = np.random.default_rng(seed)
    for name in classes:
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        channel = {"red": 0, "green": 1, "blue": 2}[name]
        for i in range(per_class):
            pixels = rng.integers(0, 60, (SIZE, SIZE, 3))
            pixels[..., channel] += 150
            Image.fromarray(pixels.astype(np.uint8)).save(folder / f"{seed}_{i}.png")
    return root


def _corrupt(path):
    path.write_bytes(b"\x89PNG\r\n\x1a\nnot an image")
    return path


@pytest.fixture(scope="module")
def hub_savedmodel(tmp_path_factory):
    return export_tiny_savedmodel(str(tmp_path_factory.mktemp("hub") / "sm"), SIZE)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory, hub_savedmodel):
    """Runs `keras-transfer fit` once; returns its paths and report."""
    root = tmp_path_factory.mktemp("workflow")
    data = _write_images(root / "data", per_class=8, seed=0)
    _corrupt(data / "red" / "broken.png")
    held_out = _write_images(root / "held_out", per_class=4, seed=1)
    out = root / "model.keras"
    status = cli.main([
        "fit", str(data), "--backbone", hub_savedmodel, "--image-size", str(SIZE),
        "--head-epochs", "40", "--epochs", "2", "--batch-size", "8",
        "--validation-split", "0.25", "--learning-rate", "0.05", "--out", str(out),
    ])  # fmt: skip
    assert status == 0
    report = json.loads((root / "model.json").read_text())
    return {"root": root, "out": out, "held_out": held_out, "report": report}


def _raw_pixels(path):
    """What a user gets from Keras's own image reader: uint8 RGB, 0..255."""
    return keras.utils.img_to_array(keras.utils.load_img(path), dtype="uint8")


pytestmark = pytest.mark.tensorflow_only


def test_fit_reports_the_class_names_and_stores_them_in_the_model(fitted):
    report = fitted["report"]
    assert report["class_names"] == list(CLASSES)
    assert report["data"]["skipped"] == 1
    assert report["data"]["num_train"] + report["data"]["num_validation"] == 24
    inside = json.loads(zipfile.ZipFile(fitted["out"]).read("keras_transfer.json"))
    assert inside["class_names"] == list(CLASSES) and inside["image_size"] == SIZE
    # Red, green and blue are separable from pooled conv features.
    assert report["validation_accuracy"] == 1.0
    assert report["validation_balanced_accuracy"] == 1.0
    # fit went through kt.fine_tune: its report and per-epoch history are kept.
    tuned = report["fine_tune"]
    assert tuned["num_train"] == report["data"]["num_train"]
    assert tuned["class_weight"] is None  # 6 or 7 training images per class: balanced
    assert tuned["views"] == "flips" and len(tuned["stages"]) == 1
    assert [row["phase"] for row in report["history"]].count("stage 1") == 2
    assert set(tuned["validation_tta"]) == {"loss", "accuracy", "balanced_accuracy"}


def test_reloaded_model_on_raw_pixels_is_what_predict_prints(fitted, capsys, tmp_path):
    files = sorted(str(p) for p in fitted["held_out"].rglob("*.png"))
    bad = _corrupt(tmp_path / "corrupt.png")
    out = tmp_path / "predictions.json"
    status = cli.main(["predict", str(fitted["out"]), str(fitted["held_out"]), str(bad),
                       "--top", "2", "--json", str(out), "--unsafe"])  # fmt: skip
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert f"skipped: {bad}" in captured.err and "1 unreadable" in captured.err
    result = json.loads(out.read_text())
    assert (
        result["skipped"] == 1 and [p["file"] for p in result["predictions"]] == files
    )
    model = keras.saving.load_model(fitted["out"], safe_mode=False)
    pixels = np.stack([_raw_pixels(f) for f in files])
    assert pixels.dtype == np.uint8 and pixels.max() > 200  # raw, not rescaled
    probabilities = model.predict(pixels, verbose=0)
    assert probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    lines = captured.out.strip().splitlines()
    for line, prediction, row in zip(lines, result["predictions"], probabilities):
        best = int(np.argmax(row))
        assert line.startswith(f"{prediction['file']}: {CLASSES[best]} {row[best]:.4f}")
        assert [t["class"] for t in prediction["top"]][0] == CLASSES[best]
        np.testing.assert_allclose(
            [t["probability"] for t in prediction["top"]],
            np.sort(row)[::-1][:2],
            rtol=1e-5,
        )
    labels = np.array(
        [CLASSES.index(os.path.basename(os.path.dirname(f))) for f in files]
    )
    accuracy = float(np.mean(np.argmax(probabilities, axis=1) == labels))
    assert accuracy >= fitted["report"]["validation_accuracy"]


def test_evaluate_matches_names_and_writes_the_report(fitted, capsys, tmp_path):
    # A subset of the classes, one corrupt file: matched by name, skipped.
    subset = tmp_path / "subset"
    _write_images(subset, per_class=3, seed=5, classes=("red", "blue"))
    _corrupt(subset / "red" / "bad.png")
    stem = tmp_path / "eval"
    status = cli.main(
        ["evaluate", str(fitted["out"]), str(subset), "--out", str(stem), "--unsafe"]
    )
    captured = capsys.readouterr()
    assert status == 0, captured.err
    result = json.loads((tmp_path / "eval.json").read_text())
    assert result["class_names"] == list(CLASSES)
    assert result["num_images"] == 6 and result["skipped"] == 1
    assert result["support"] == [3, 0, 3]  # blue, green, red
    matrix = np.array(result["confusion_matrix"])
    assert matrix.sum() == 6 and matrix[1].sum() == 0
    assert result["accuracy"] == pytest.approx(np.trace(matrix) / 6)
    # Mean recall over the classes present (green has no image here).
    recall = [matrix[c, c] / 3 for c in (0, 2)]
    assert result["balanced_accuracy"] == pytest.approx(np.mean(recall))
    printed = f"{result['balanced_accuracy']:.4f}"
    assert (
        f"- balanced accuracy (mean recall over the classes present): {printed}"
        in captured.out
    )
    assert "| true \\ predicted | blue | green | red |" in captured.out
    assert (tmp_path / "eval.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "accuracy" in (tmp_path / "eval.md").read_text()


def test_evaluate_refuses_a_class_the_model_does_not_have(fitted, capsys, tmp_path):
    wrong = _write_images(tmp_path / "wrong", per_class=2, seed=6, classes=("red",))
    (wrong / "purple").mkdir()
    Image.fromarray(np.zeros((SIZE, SIZE, 3), np.uint8)).save(
        wrong / "purple" / "0.png"
    )
    status = cli.main(["evaluate", str(fitted["out"]), str(wrong), "--unsafe"])
    err = capsys.readouterr().err
    assert status == 2 and "Traceback" not in err
    assert "['purple']" in err and "['blue', 'green', 'red']" in err


def test_export_serves_float32_probabilities_equal_to_the_model(
    fitted, capsys, tmp_path
):
    import tensorflow as tf

    out = tmp_path / "served"
    status = cli.main(["export", str(fitted["out"]), str(out), "--unsafe"])
    assert status == 0, capsys.readouterr().err
    assert json.loads((out / "keras_transfer.json").read_text())["class_names"] == list(
        CLASSES
    )
    files = sorted(fitted["held_out"].rglob("*.png"))[:4]
    pixels = np.stack([_raw_pixels(f) for f in files]).astype("float32")
    artifact = tf.saved_model.load(str(out))  # keep it: serve() uses its variables
    served = artifact.serve(pixels)
    assert served.dtype == tf.float32
    model = keras.saving.load_model(fitted["out"], safe_mode=False)
    np.testing.assert_allclose(
        served.numpy(), model.predict(pixels, verbose=0), rtol=1e-5, atol=1e-6
    )
    # An existing OUT is kept unless --overwrite; a format Keras does not have is refused.
    assert cli.main(["export", str(fitted["out"]), str(out), "--unsafe"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert cli.main(["export", str(fitted["out"]), str(tmp_path / "x"), "--unsafe",
                     "--format", "no_such_format"]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "`--format` 'no_such_format'" in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()
    assert not [p for p in os.listdir(tmp_path) if ".partial" in p]


def test_model_with_a_savedmodel_needs_unsafe(fitted, capsys, tmp_path):
    status = cli.main(["predict", str(fitted["out"]), str(fitted["held_out"])])
    err = capsys.readouterr().err
    assert status == 2 and "--unsafe" in err and "Traceback" not in err
