"""`keras-transfer fit DATA_DIR`: a real image folder, real backbones, every bad input."""

import json
import os

import keras
import numpy as np
import pytest
from PIL import Image

from keras_transfer import cli

SIZE = 32


def _write_folder(root, classes=("bright", "dark"), per_class=8, corrupt=True):
    """PNG class folders: bright vs dark images, one odd size, one corrupt file."""
    rng = np.random.default_rng(0)
    for c, name in enumerate(classes):
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(per_class):
            side = 20 if i == 0 else 16  # one image of another size: resized
            base = 200 if c == 0 else 40
            pixels = np.clip(base + rng.integers(-30, 30, (side, side, 3)), 0, 255)
            Image.fromarray(pixels.astype(np.uint8)).save(folder / f"{i}.png")
    if corrupt:
        (root / classes[0] / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot an image")
    return root


@pytest.fixture
def folder(tmp_path):
    return _write_folder(tmp_path / "data")


@pytest.fixture(scope="module")
def mobilenet_weights(tmp_path_factory):
    """A local weights file for keras.applications.MobileNetV2 (nothing downloaded)."""
    path = tmp_path_factory.mktemp("weights") / "mobilenet_v2.weights.h5"
    keras.utils.set_random_seed(1)
    keras.applications.MobileNetV2(
        weights=None, include_top=False, input_shape=(SIZE, SIZE, 3)
    ).save_weights(str(path))
    return str(path)


@pytest.fixture(scope="module")
def hub_savedmodel(tmp_path_factory):
    """A TF Hub format SavedModel of a tiny conv net, built with the export helper."""
    from keras_transfer.layers import export_reusable_savedmodel

    keras.utils.set_random_seed(2)
    model = keras.Sequential(
        [keras.Input((SIZE, SIZE, 3)), keras.layers.Conv2D(8, 3, activation="relu")]
    )
    return export_reusable_savedmodel(model, str(tmp_path_factory.mktemp("hub") / "sm"))


def _fit(capsys, *argv):
    status = cli.main(["fit", *map(str, argv)])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _fit_and_check(capsys, folder, tmp_path, backbone_args):
    out = tmp_path / "model.keras"
    status, stdout, err = _fit(
        capsys, folder, *backbone_args, "--image-size", SIZE, "--epochs", 2,
        "--head-epochs", 10, "--batch-size", 8, "--validation-split", 0.25,
        "--learning-rate", 0.05, "--out", out,
    )  # fmt: skip
    assert status == 0, err
    report = json.loads((tmp_path / "model.json").read_text())
    data = report["data"]
    assert data["class_names"] == ["bright", "dark"]
    assert data["skipped"] == 1
    assert any("broken.png" in example for example in data["skipped_examples"])
    assert "broken.png" in err
    assert data["resized"] >= 1
    assert data["num_train"] + data["num_validation"] == 16
    assert 0.0 <= report["validation_accuracy"] <= 1.0
    assert len(report["history"]["loss"]) == 2
    assert "validation accuracy" in (tmp_path / "model.md").read_text()
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".tmp-")]
    loaded = keras.saving.load_model(out, safe_mode=False, compile=False)
    images = np.full((2, SIZE, SIZE, 3), 0.5, "float32")
    assert loaded.predict(images, verbose=0).shape == (2, 2)
    return report


@pytest.mark.slow
def test_fit_keras_application_with_local_weights(capsys, folder, tmp_path, mobilenet_weights):
    report = _fit_and_check(
        capsys, folder, tmp_path, ["--backbone", "MobileNetV2", "--weights", mobilenet_weights]
    )
    assert report["backbone"].startswith("keras.applications.MobileNetV2")


@pytest.mark.tensorflow_only
def test_fit_hub_savedmodel(capsys, folder, tmp_path, hub_savedmodel):
    report = _fit_and_check(capsys, folder, tmp_path, ["--backbone", hub_savedmodel])
    assert report["backbone"].startswith("HubBackbone(")
    # Bright vs dark is separable from pooled conv features: the head learns it.
    assert report["train_accuracy"] >= 0.75


def _assert_user_error(status, stdout, err, *fragments):
    assert status == 2
    assert "Traceback" not in err
    assert "keras-transfer fit: error:" in err
    for fragment in fragments:
        assert fragment in err


def test_missing_directory(capsys, tmp_path):
    result = _fit(capsys, tmp_path / "nope", "--backbone", "MobileNetV2", "--out", tmp_path / "m.keras")
    _assert_user_error(*result, "no such directory")
    assert not (tmp_path / "m.keras").exists()


def test_empty_directory(capsys, tmp_path):
    (tmp_path / "empty").mkdir()
    result = _fit(capsys, tmp_path / "empty", "--backbone", "MobileNetV2", "--out", tmp_path / "m.keras")
    _assert_user_error(*result, "no class subfolders")


def test_single_class(capsys, tmp_path):
    data = _write_folder(tmp_path / "data", classes=("only",), corrupt=False)
    result = _fit(capsys, data, "--backbone", "MobileNetV2", "--out", tmp_path / "m.keras")
    _assert_user_error(*result, "at least 2 class", "only")


@pytest.mark.parametrize(
    "backbone_args, fragment",
    [
        (["--backbone", "MobileNetV9"], "MobileNetV2"),  # unknown name: close names shown
        (["--backbone", "MobileNetV2"], "--weights"),  # no local weights: nothing downloaded
    ],
)
def test_unloadable_backbone_name(capsys, folder, tmp_path, backbone_args, fragment):
    out = tmp_path / "m.keras"
    result = _fit(capsys, folder, *backbone_args, "--image-size", SIZE, "--out", out)
    _assert_user_error(*result, fragment)
    assert not out.exists()


def test_weights_that_do_not_fit_the_backbone(capsys, folder, tmp_path):
    wrong = tmp_path / "wrong.weights.h5"
    keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]).save_weights(str(wrong))
    result = _fit(
        capsys, folder, "--backbone", "MobileNetV2", "--weights", wrong,
        "--image-size", SIZE, "--out", tmp_path / "m.keras",
    )  # fmt: skip
    _assert_user_error(*result, "could not be built")


@pytest.mark.tensorflow_only
def test_directory_that_is_not_a_savedmodel(capsys, folder, tmp_path):
    not_a_model = tmp_path / "not_a_model"
    not_a_model.mkdir()
    result = _fit(capsys, folder, "--backbone", not_a_model, "--out", tmp_path / "m.keras")
    _assert_user_error(*result, "could not be loaded")


def test_existing_output_is_refused_and_kept(capsys, folder, tmp_path):
    out = tmp_path / "model.keras"
    out.write_bytes(b"precious")
    result = _fit(capsys, folder, "--backbone", "MobileNetV2", "--out", out)
    _assert_user_error(*result, "--overwrite", "Nothing was changed")
    assert out.read_bytes() == b"precious"
    assert not (tmp_path / "model.json").exists()


def test_existing_report_is_refused(capsys, folder, tmp_path):
    (tmp_path / "model.md").write_text("my notes")
    result = _fit(capsys, folder, "--backbone", "MobileNetV2", "--out", tmp_path / "model.keras")
    _assert_user_error(*result, "model.md")
    assert (tmp_path / "model.md").read_text() == "my notes"


@pytest.mark.tensorflow_only
def test_overwrite_replaces_existing_output(capsys, folder, tmp_path, hub_savedmodel):
    out = tmp_path / "model.keras"
    out.write_bytes(b"old")
    status, _, err = _fit(
        capsys, folder, "--backbone", hub_savedmodel, "--image-size", SIZE, "--epochs", 0,
        "--head-epochs", 1, "--out", out, "--overwrite",
    )  # fmt: skip
    assert status == 0, err
    assert out.read_bytes() != b"old"
    assert keras.saving.load_model(out, safe_mode=False, compile=False).output_shape == (None, 2)


@pytest.mark.parametrize(
    "extra, fragment",
    [
        (["--out", "model.h5"], "ending in `.keras`"),
        (["--epochs", "-1"], "--epochs"),
        (["--validation-split", "1.5"], "validation_split"),
    ],
)
def test_bad_arguments(capsys, folder, tmp_path, monkeypatch, extra, fragment):
    monkeypatch.chdir(tmp_path)
    result = _fit(capsys, folder, "--backbone", "MobileNetV2", *extra)
    _assert_user_error(*result, fragment)
