"""`keras-transfer fit DATA_DIR`: a real image folder, real backbones, every bad input."""

import json
import os
import re
import subprocess
import sys

import keras
import numpy as np
import pytest
from _policy_clock import PolicyClock
from _tiny_backbone import export_tiny_savedmodel
from PIL import Image

from keras_transfer import cli, throughput
from keras_transfer.cli import _backbones, _curves, fit

SIZE = 32


def _write_folder(root, classes=("bright", "dark"), per_class=8, corrupt=True):
    """PNG class folders: bright vs dark images, one odd size, one corrupt file.

    `per_class`: one count for every class, or a count per class.
    """
    rng = np.random.default_rng(0)
    counts = (
        per_class
        if isinstance(per_class, (list, tuple))
        else [per_class] * len(classes)
    )
    for c, name in enumerate(classes):
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(counts[c]):
            side = 20 if i == 0 else SIZE  # one image of another size: resized
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
    return export_tiny_savedmodel(str(tmp_path_factory.mktemp("hub") / "sm"), SIZE)


def _fit(capsys, *argv):
    status = cli.main(["fit", *map(str, argv)])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _fit_and_check(capsys, folder, tmp_path, backbone_args, *extra):
    out = tmp_path / "model.keras"
    status, stdout, err = _fit(
        capsys, folder, *backbone_args, "--image-size", SIZE, "--epochs", 2,
        "--head-epochs", 10, "--batch-size", 8, "--validation-split", 0.25,
        "--learning-rate", 0.05, "--out", out, *extra,
    )  # fmt: skip
    assert status == 0, err
    report = json.loads((tmp_path / "model.json").read_text())
    data = report["data"]
    assert report["class_names"] == data["class_names"] == ["bright", "dark"]
    assert data["skipped"] == 1
    assert any("broken.png" in example for example in data["skipped_examples"])
    assert "broken.png" in err
    assert data["resized"] == 2
    assert data["num_train"] + data["num_validation"] == 16
    assert len(report["validation_files"]) == data["num_validation"] == 4
    markdown = (tmp_path / "model.md").read_text()
    # Rounded for reading: 0.750, not 0.7500000001.
    line = re.search(
        r"- validation accuracy: (\S+) \(balanced accuracy (\S+), loss (\S+)\)",
        markdown,
    )
    assert line and all(re.fullmatch(r"\d+\.\d{3}", v) for v in line.groups()), markdown
    assert float(line.group(1)) == pytest.approx(
        report["validation_accuracy"], abs=5e-4
    )
    tuned = report["fine_tune"]
    assert report["validation_accuracy"] == tuned["validation"]["accuracy"]
    assert (
        report["validation_balanced_accuracy"]
        == tuned["validation"]["balanced_accuracy"]
    )
    assert set(tuned["validation_tta"]) == {"loss", "accuracy", "balanced_accuracy"}
    assert report["tta_recommended"] == tuned["tta"]
    assert tuned["num_train"] == data["num_train"] and tuned["num_validation"] == 4
    # The history is fine_tune's, one row per epoch; the kept epoch is the best
    # by validation balanced accuracy (ties: the lower validation loss).
    history = report["history"]
    assert {row["phase"] for row in history} <= {"head", "stage 1", "stage 2"}
    best = max(row["val_balanced_accuracy"] for row in history)
    assert history[tuned["kept_epoch"]]["val_balanced_accuracy"] == best
    assert history[tuned["kept_epoch"]]["phase"] == tuned["kept_phase"]
    assert report["memory"]["megabytes"] == pytest.approx(16 * SIZE * SIZE * 3 / 2**20)
    assert "images into memory: " in err
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".tmp-")]
    # The saved model takes raw pixels as files hold them: it scores the
    # validation files exactly as the report says.
    loaded = keras.saving.load_model(out, safe_mode=False)
    files = report["validation_files"]
    pixels = np.stack(
        [
            keras.utils.img_to_array(keras.utils.load_img(f, target_size=(SIZE, SIZE)))
            for f in files
        ]
    )
    labels = [
        report["class_names"].index(os.path.basename(os.path.dirname(f))) for f in files
    ]
    predicted = np.argmax(loaded.predict(pixels, verbose=0), axis=1)
    assert np.mean(predicted == labels) == pytest.approx(report["validation_accuracy"])
    return report, loaded


@pytest.mark.slow
def test_fit_keras_application_with_local_weights(
    capsys, folder, tmp_path, mobilenet_weights
):
    report, loaded = _fit_and_check(
        capsys,
        folder,
        tmp_path,
        ["--backbone", "MobileNetV2", "--weights", mobilenet_weights],
    )
    assert report["backbone"].startswith("keras.applications.MobileNetV2")
    # MobileNetV2's preprocess_input (x / 127.5 - 1) is a layer of the model.
    config = loaded.get_layer("preprocess").get_config()
    np.testing.assert_allclose(config["scale"], [1 / 127.5] * 3, rtol=1e-6)
    np.testing.assert_allclose(config["offset"], [-1.0] * 3, rtol=1e-6)
    # Two stages of --epochs 2, each trained on activations cached inside MobileNetV2.
    stages = report["fine_tune"]["stages"]
    assert len(stages) == 2 and all(stage["cached_shape"] for stage in stages)
    assert stages[0]["groups"] < stages[1]["groups"]
    assert [row["phase"] for row in report["history"] if row["phase"] != "head"] == [
        "stage 1",
        "stage 1",
        "stage 2",
        "stage 2",
    ]
    assert set(report["unfrozen_groups"]) == set(stages[1]["trained_groups"]) - {
        "probabilities"
    }
    # On every backend: `predict` prints what the reloaded model says.
    files = report["validation_files"]
    assert (
        cli.main(["predict", str(tmp_path / "model.keras"), *files, "--top", "1"]) == 0
    )
    printed = capsys.readouterr().out.strip().splitlines()
    pixels = np.stack([keras.utils.img_to_array(keras.utils.load_img(f, target_size=(SIZE, SIZE)))
                       for f in files])  # fmt: skip
    probabilities = loaded.predict(pixels, verbose=0)
    expected = [
        f"{f}: {report['class_names'][int(np.argmax(p))]} {np.max(p):.4f}"
        for f, p in zip(files, probabilities)
    ]
    assert printed == expected


@pytest.mark.slow
def test_fit_efficientnet_lite0_with_its_offline_imagenet_weights(
    capsys, folder, tmp_path
):
    report, loaded = _fit_and_check(
        capsys, folder, tmp_path, ["--backbone", "EfficientNetLite0"], "--epochs", "0"
    )
    assert (
        report["backbone"]
        == "keras_transfer.applications.EfficientNetLite0(weights='imagenet')"
    )
    # Its (x - 127) / 128 is inside the backbone: fit adds no preprocessing layer.
    assert "preprocess" not in [layer.name for layer in loaded.layers]
    # ImageNet features tell bright from dark images.
    assert report["validation_accuracy"] == 1.0
    # --epochs 0: the head alone.
    assert report["fine_tune"]["stages"] == [] and report["unfrozen_groups"] == []
    assert {row["phase"] for row in report["history"]} == {"head"}


@pytest.mark.tensorflow_only
def test_fit_hub_savedmodel(capsys, folder, tmp_path, hub_savedmodel):
    report, loaded = _fit_and_check(
        capsys, folder, tmp_path, ["--backbone", hub_savedmodel]
    )
    assert report["backbone"].startswith("HubBackbone(")
    # Bright vs dark is separable from pooled conv features: the head learns it.
    assert report["validation_accuracy"] == 1.0
    assert report["train_accuracy"] == 1.0
    assert loaded.get_layer("preprocess").get_config()["scale"] == pytest.approx(
        1 / 255
    )
    assert report["layer_groups"] == ["backbone"]
    # A SavedModel cannot be cut: one stage trains the whole model on the images.
    (stage,) = report["fine_tune"]["stages"]
    assert stage["cached_shape"] is None and report["unfrozen_groups"] == ["backbone"]
    # Balanced classes: no weights, and the report says why.
    assert report["fine_tune"]["class_weight"] is None
    assert report["class_weight_reason"].startswith("auto: largest class 1.00x")


@pytest.mark.tensorflow_only
def test_precision_and_recipe_flags_reach_fine_tune(
    capsys, folder, tmp_path, hub_savedmodel
):
    report, loaded = _fit_and_check(
        capsys, folder, tmp_path, ["--backbone", hub_savedmodel], "--precision",
        "mixed_bfloat16", "--jit-compile", "false", "--views", "none",
        "--class-weight", "balanced", "--fine-tune-learning-rate", "3e-4", "--decay", "0.5",
        "--epochs", "1",
    )  # fmt: skip
    assert report["precision"]["policy"] == "mixed_bfloat16"
    assert report["precision"]["jit_compile"] is False
    assert keras.config.dtype_policy().name == "float32"  # restored afterwards
    assert loaded.get_layer("backbone").dtype_policy.name == "mixed_bfloat16"
    assert loaded.output.dtype == "float32"
    tuned = report["fine_tune"]
    assert tuned["views"] == report["views"] == "none"
    # --views none: nothing to average at test time, so no TTA.
    assert tuned["tta"] is False
    assert tuned["validation_tta"] == pytest.approx(tuned["validation"])
    # "balanced" weighs even balanced classes: n / (classes * count) = 1.
    assert tuned["class_weight"] == {"0": 1.0, "1": 1.0}
    assert report["fine_tune_learning_rate"] == 3e-4 and report["decay"] == 0.5
    assert [row["phase"] for row in report["history"]].count("stage 1") == 1


@pytest.mark.parametrize(
    "flag",
    ["--epochs-per-stage=2", "--batchnorm=affine", "--augment", "--no-early-stopping",
     "--patience=3", "--no-restore-best"],
)  # fmt: skip
def test_removed_flags_are_argparse_errors(capsys, flag):
    with pytest.raises(SystemExit) as raised:
        cli.main(["fit", "somewhere", "--backbone", "x", flag])
    assert raised.value.code == 2
    assert f"unrecognized arguments: {flag}" in capsys.readouterr().err


@pytest.mark.tensorflow_only
@pytest.mark.parametrize("choice", ["auto", "none"])
def test_an_imbalanced_folder_gets_class_weights(
    capsys, tmp_path, hub_savedmodel, choice
):
    data = _write_folder(tmp_path / "data", per_class=(12, 4), corrupt=False)
    report, _ = _quick_fit(capsys, data, tmp_path, hub_savedmodel, "--class-weight", choice,
                           "--validation-split", "0.25")  # fmt: skip
    tuned = report["fine_tune"]
    assert tuned["class_counts"] == [9, 3]  # 3 bright and 1 dark held out
    markdown = (tmp_path / "model.md").read_text()
    if choice == "none":
        assert tuned["class_weight"] is None
        assert "- class weights: none (--class-weight none" in markdown
        return
    # the square roots of scikit-learn's "balanced" (n / (classes * count): 2/3
    # and 2), scaled to a mean of 1 per sample over the 9 + 3 training images
    root = np.sqrt([12 / 18, 2.0])
    expected = root / ((9 * root[0] + 3 * root[1]) / 12)
    assert tuned["class_weight"] == pytest.approx({"0": expected[0], "1": expected[1]})
    assert report["class_weight_reason"] == (
        "auto: largest class 3.00x the smallest (> 1.5x): softened (square-root) "
        "balanced weights"
    )
    assert (
        "- class weights: bright 0.845, dark 1.464 (auto: largest class 3.00x"
        in markdown
    )


def _quick_fit(capsys, folder, tmp_path, hub_savedmodel, *extra):
    status, out, err = _fit(
        capsys, folder, "--backbone", hub_savedmodel, "--image-size", SIZE,
        "--epochs", 0, "--head-epochs", 1, "--batch-size", 8,
        "--out", tmp_path / "model.keras", *extra,
    )  # fmt: skip
    assert status == 0, err
    return json.loads((tmp_path / "model.json").read_text()), err


@pytest.mark.tensorflow_only
def test_precision_auto_uses_what_autotune_measured_for_this_model(
    capsys, folder, tmp_path, hub_savedmodel, monkeypatch
):
    monkeypatch.setenv("KERAS_TRANSFER_CACHE", str(tmp_path / "cache"))
    report, _ = _quick_fit(capsys, folder, tmp_path, hub_savedmodel, "--overwrite")
    # Nothing cached: the CPU rule, with the reason saying how to measure.
    assert report["precision"]["policy"] == "float32"
    assert "no autotune result cached" in report["precision"]["reason"]

    def build():  # the model `fit` builds: same backbone, size and classes
        backbone, preprocess, _ = _backbones.load_backbone(hub_savedmodel, None, SIZE)
        return _backbones.build_model(backbone, preprocess, SIZE, 2)

    x = np.zeros((8, SIZE, SIZE, 3), "float32")
    throughput.autotune(
        build, x, np.zeros((8,), "int32"),
        compile_kwargs={"optimizer": "adam", "loss": "sparse_categorical_crossentropy"},
        candidates=[throughput.PrecisionChoice("float32", False, 1),
                    throughput.PrecisionChoice("mixed_bfloat16", False, 1)],
        batch_size=8, steps=2, timer=PolicyClock({"float32": 3.0, "mixed_bfloat16": 1.0}),
    )  # fmt: skip
    report, err = _quick_fit(capsys, folder, tmp_path, hub_savedmodel, "--overwrite")
    assert report["precision"]["policy"] == "mixed_bfloat16"
    assert report["precision"]["jit_compile"] is False
    assert "autotune: fastest of 2 candidates" in report["precision"]["reason"]
    assert "3.00x the runner-up" in err
    loaded = keras.saving.load_model(tmp_path / "model.keras", safe_mode=False)
    assert loaded.get_layer("backbone").dtype_policy.name == "mixed_bfloat16"
    # Another batch size is another measurement: back to the rule.
    report, _ = _quick_fit(
        capsys, folder, tmp_path, hub_savedmodel, "--overwrite", "--batch-size", 4
    )
    assert report["precision"]["policy"] == "float32"


@pytest.mark.tensorflow_only
def test_autotune_flag_measures_on_the_training_images_and_caches(
    capsys, folder, tmp_path, hub_savedmodel, monkeypatch
):
    monkeypatch.setenv("KERAS_TRANSFER_CACHE", str(tmp_path / "cache"))
    report, err = _quick_fit(capsys, folder, tmp_path, hub_savedmodel, "--autotune")
    assert "Autotune: timing 3 training steps of batch 8" in err
    (cached,) = (tmp_path / "cache" / "autotune").iterdir()
    entry = json.loads(cached.read_text())
    assert len(entry["table"]) == 4  # float32 / mixed_bfloat16, XLA off / on
    assert entry["key"]["input_shape"] == [SIZE, SIZE, 3]
    assert entry["key"]["batch_size"] == 8
    assert report["precision"]["policy"] == entry["best"]["policy"]
    assert report["precision"]["jit_compile"] == entry["best"]["jit_compile"]
    assert "autotune: fastest of 4 candidates" in report["precision"]["reason"]


@pytest.mark.tensorflow_only
def test_best_validation_weights_are_kept(capsys, folder, tmp_path, hub_savedmodel):
    # Rates this large make the validation scores jump about.
    report, _ = _fit_and_check(
        capsys, folder, tmp_path, ["--backbone", hub_savedmodel],
        "--learning-rate", "30", "--fine-tune-learning-rate", "3", "--epochs", "4",
    )  # fmt: skip
    history = report["history"]
    assert [row["phase"] for row in history].count("stage 1") == 4
    kept = history[report["fine_tune"]["kept_epoch"]]
    assert report["validation_balanced_accuracy"] == pytest.approx(
        kept["val_balanced_accuracy"]
    )
    assert report["validation_loss"] == pytest.approx(kept["val_loss"], rel=1e-4)


@pytest.mark.slow
def test_groups_to_unfreeze_are_printed(capsys, folder, tmp_path, mobilenet_weights):
    status, _, err = _fit(
        capsys, folder, "--backbone", "MobileNetV2", "--weights", mobilenet_weights,
        "--image-size", SIZE, "--epochs", 0, "--head-epochs", 1, "--out", tmp_path / "m.keras",
    )  # fmt: skip
    assert status == 0, err
    report = json.loads((tmp_path / "m.json").read_text())
    groups = report["layer_groups"]
    assert groups[0] == "out_relu" or groups[0].startswith("Conv_1")
    assert "block_1" in " ".join(groups) and len(groups) > 10
    assert (
        f"Layer groups below the head, top first ({len(groups)}): {', '.join(groups)}"
        in err
    )
    assert "then no stage (--epochs 0)" in err
    assert report["unfrozen_groups"] == [] and report["fine_tune"]["stages"] == []
    assert [row["phase"] for row in report["history"]] == ["head"]


@pytest.mark.parametrize(
    "module, scale, offset, flip",
    [
        ("mobilenet_v2", [1 / 127.5] * 3, [-1.0] * 3, False),  # "tf" mode
        ("resnet50", [1.0] * 3, [-103.939, -116.779, -123.68], True),  # "caffe": BGR
        (
            "densenet",  # "torch" mode
            [1 / (255 * s) for s in (0.229, 0.224, 0.225)],
            [-m / s for m, s in zip((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))],
            False,
        ),
    ],
)
def test_preprocess_input_becomes_serializable_layers(module, scale, offset, flip):
    preprocess = getattr(keras.applications, module).preprocess_input
    layers = _backbones.preprocess_layers(preprocess, module)
    rescaling = layers[-1]
    assert len(layers) == (2 if flip else 1)
    np.testing.assert_allclose(rescaling.get_config()["scale"], scale, rtol=1e-5)
    np.testing.assert_allclose(rescaling.get_config()["offset"], offset, rtol=1e-5)
    pixels = np.random.default_rng(0).uniform(0, 255, (2, 4, 4, 3)).astype("float32")
    inputs = keras.Input((4, 4, 3))
    x = inputs
    for layer in layers:
        x = layer(x)
    np.testing.assert_allclose(
        keras.Model(inputs, x).predict(pixels, verbose=0),
        preprocess(pixels.copy()),
        rtol=1e-4, atol=1e-3,
    )  # fmt: skip


def test_preprocessing_inside_the_model_means_no_layer():
    assert (
        _backbones.preprocess_layers(
            keras.applications.efficientnet.preprocess_input, "x"
        )
        == []
    )
    with pytest.raises(cli.UserError, match="not a per-channel scale"):
        _backbones.preprocess_layers(lambda x: x[..., [1, 0, 2]], "Shuffled")
    with pytest.raises(cli.UserError, match="not affine"):
        _backbones.preprocess_layers(lambda x: (x / 255.0) ** 2, "Squared")


def _assert_user_error(status, stdout, err, *fragments):
    assert status == 2
    assert "Traceback" not in err
    assert "keras-transfer fit: error:" in err
    for fragment in fragments:
        assert fragment in err


# In a new process: Keras reads `KERAS_HOME` (its download cache, here empty)
# when it is imported. Sockets fail there as if the network were off.
_OFFLINE_FIT = """
import socket, sys
def offline(*args, **kwargs):
    raise OSError("network is off in this test")
socket.getaddrinfo = offline
socket.socket.connect = offline
from keras_transfer import cli
sys.exit(cli.main(sys.argv[1:]))
"""


def test_imagenet_weights_offline_fail_with_a_clear_message(folder, tmp_path):
    env = {**os.environ, "KERAS_HOME": str(tmp_path / "keras_home")}
    argv = ["fit", folder, "--backbone", "MobileNetV2", "--weights", "imagenet",
            "--image-size", 96, "--out", tmp_path / "m.keras"]  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-c", _OFFLINE_FIT, *map(str, argv)],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    _assert_user_error(result.returncode, result.stdout, result.stderr,
                       "--weights imagenet", "offline", "--weights")  # fmt: skip
    assert not (tmp_path / "m.keras").exists()
    assert not list((tmp_path / "keras_home").rglob("*.h5")), "nothing cached"


def test_missing_directory(capsys, tmp_path):
    result = _fit(
        capsys,
        tmp_path / "nope",
        "--backbone",
        "MobileNetV2",
        "--out",
        tmp_path / "m.keras",
    )
    _assert_user_error(*result, "no such directory")
    assert not (tmp_path / "m.keras").exists()


def test_empty_directory(capsys, tmp_path):
    (tmp_path / "empty").mkdir()
    result = _fit(
        capsys,
        tmp_path / "empty",
        "--backbone",
        "MobileNetV2",
        "--out",
        tmp_path / "m.keras",
    )
    _assert_user_error(*result, "no class subfolders")


def test_single_class(capsys, tmp_path):
    data = _write_folder(tmp_path / "data", classes=("only",), corrupt=False)
    result = _fit(
        capsys, data, "--backbone", "MobileNetV2", "--out", tmp_path / "m.keras"
    )
    _assert_user_error(*result, "at least 2 class", "only")


@pytest.mark.parametrize(
    "backbone_args, fragment",
    [
        (
            ["--backbone", "MobileNetV9"],
            "MobileNetV2",
        ),  # unknown name: close names shown
        (
            ["--backbone", "MobileNetV2"],
            "--weights",
        ),  # no local weights: nothing downloaded
    ],
)
def test_unloadable_backbone_name(capsys, folder, tmp_path, backbone_args, fragment):
    out = tmp_path / "m.keras"
    result = _fit(capsys, folder, *backbone_args, "--image-size", SIZE, "--out", out)
    _assert_user_error(*result, fragment)
    assert not out.exists()


def test_weights_that_do_not_fit_the_backbone(capsys, folder, tmp_path):
    wrong = tmp_path / "wrong.weights.h5"
    keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]).save_weights(
        str(wrong)
    )
    result = _fit(
        capsys, folder, "--backbone", "MobileNetV2", "--weights", wrong,
        "--image-size", SIZE, "--out", tmp_path / "m.keras",
    )  # fmt: skip
    _assert_user_error(*result, "could not be built")


@pytest.mark.tensorflow_only
def test_directory_that_is_not_a_savedmodel(capsys, folder, tmp_path):
    not_a_model = tmp_path / "not_a_model"
    not_a_model.mkdir()
    result = _fit(
        capsys, folder, "--backbone", not_a_model, "--out", tmp_path / "m.keras"
    )
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
    result = _fit(
        capsys, folder, "--backbone", "MobileNetV2", "--out", tmp_path / "model.keras"
    )
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
    assert keras.saving.load_model(out, safe_mode=False).output_shape == (None, 2)


@pytest.mark.parametrize(
    "extra, fragment",
    [
        (["--out", "model.h5"], "ending in `.keras`"),
        (["--epochs", "-1"], "--epochs"),
        (["--head-epochs", "0"], "--head-epochs"),
        (["--decay", "0"], "--decay"),
        (["--fine-tune-learning-rate", "-1"], "--fine-tune-learning-rate"),
        (["--validation-split", "1.5"], "validation_split"),
    ],
)
def test_bad_arguments(capsys, folder, tmp_path, monkeypatch, extra, fragment):
    monkeypatch.chdir(tmp_path)
    result = _fit(capsys, folder, "--backbone", "MobileNetV2", *extra)
    _assert_user_error(*result, fragment)


# -- resume after an interruption (OUT.backup/) -------------------------------

_RESUME_ARGS = ("--image-size", SIZE, "--epochs", 3, "--head-epochs", 3, "--batch-size", 8,
                "--validation-split", 0.25, "--learning-rate", 0.05)  # fmt: skip


def _model_weights(path):
    model = keras.saving.load_model(path, safe_mode=False)
    return [keras.ops.convert_to_numpy(w) for w in model.weights]


@pytest.mark.tensorflow_only
def test_an_interrupted_fit_resumes_to_the_uninterrupted_model(
    capsys, folder, tmp_path, hub_savedmodel, monkeypatch
):
    from keras_transfer.recipe import _backup

    monkeypatch.setattr(_backup, "COST_RATIO", 0.0)  # every epoch saved
    args = (folder, "--backbone", hub_savedmodel, *_RESUME_ARGS)
    status, _, err = _fit(capsys, *args, "--out", tmp_path / "plain.keras")
    assert status == 0, err
    out, backup = tmp_path / "model.keras", tmp_path / "model.backup"
    original, saves = _backup.Backup.save, []

    def interrupted(self, *a, **k):  # Ctrl-C right after the 4th epoch's backup
        original(self, *a, **k)
        saves.append(1)
        if len(saves) == 4:
            raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(_backup.Backup, "save", interrupted)
        status, _, err = _fit(capsys, *args, "--out", out)
    assert status == 130
    assert (backup / "state.json").exists()  # kept after the failure
    assert f"kept in {backup}: run the same command again" in err
    assert not out.exists()
    status, stdout, err = _fit(capsys, *args, "--out", out, "--resume")
    assert status == 0, err
    assert "Found the backup of an interrupted run" in err
    assert not backup.exists()  # removed after success
    report = json.loads((tmp_path / "model.json").read_text())
    assert report["resumed_from"]["epochs_done"] == 4
    assert "- resumed: yes, after 4 epoch(s) (stage 1, epoch 1)" in stdout
    plain = json.loads((tmp_path / "plain.json").read_text())
    assert [r["loss"] for r in report["history"]] == pytest.approx(
        [r["loss"] for r in plain["history"]], rel=1e-5
    )
    for a, b in zip(_model_weights(out), _model_weights(tmp_path / "plain.keras")):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert "- resumed: no" in (tmp_path / "plain.md").read_text()


def test_resume_without_a_backup_is_refused_before_any_work(capsys, folder, tmp_path):
    result = _fit(capsys, folder, "--backbone", "/no/such/path", "--resume",
                  "--out", tmp_path / "model.keras")  # fmt: skip
    _assert_user_error(*result, "--resume` found no backup", "model.backup")


# -- arguments before work ----------------------------------------------------


@pytest.mark.parametrize(
    "backbone_args, fragment",
    [
        (["--backbone", "/no/such/path"], "no such path or name"),
        (["--backbone", "MobileNetV2", "--weights", "/no/such.weights.h5"], "weights"),
    ],
)
def test_a_bad_backbone_fails_before_any_image_is_read(
    capsys, folder, tmp_path, monkeypatch, backbone_args, fragment
):
    from keras_transfer.cli import _images

    decoded = []

    def counted(name):
        def never(*args, **kwargs):
            decoded.append(name)
            raise AssertionError(f"_images.{name} ran before the backbone was checked")

        return never

    for name in ("check", "load_arrays", "decode", "dataset"):
        monkeypatch.setattr(_images, name, counted(name))
    result = _fit(capsys, folder, *backbone_args, "--out", tmp_path / "m.keras")
    _assert_user_error(*result, fragment)
    assert decoded == []
    assert "Checking images" not in result[2]


# -- training curves ----------------------------------------------------------


@pytest.mark.tensorflow_only
def test_fit_draws_the_training_curves(capsys, folder, tmp_path, hub_savedmodel):
    status, stdout, err = _fit(capsys, folder, "--backbone", hub_savedmodel, *_RESUME_ARGS,
                               "--out", tmp_path / "model.keras")  # fmt: skip
    assert status == 0, err
    png = tmp_path / "model.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = json.loads((tmp_path / "model.json").read_text())
    curves = report["curves"]
    assert curves["path"] == str(png)
    assert curves["lines"] == [
        label for _, _, label in _curves.METRICS
    ]  # one per metric
    assert curves["phase_starts"] == [[0, "head"], [3, "stage 1"]]
    assert "- training curves: [model.png](model.png)" in stdout
    assert f"Saved {tmp_path / 'model.keras'}, " in err and "model.png" in err
    # the PNG is an output like the others: not replaced without --overwrite
    (tmp_path / "model.keras").unlink()
    result = _fit(
        capsys, folder, "--backbone", hub_savedmodel, "--out", tmp_path / "model.keras"
    )
    _assert_user_error(*result, "model.png")


def test_curves_without_matplotlib_say_so(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import fails
    history = [{"phase": "head", "loss": 1.0, "val_loss": 1.0, "val_accuracy": 0.5,
                "val_balanced_accuracy": 0.5}]  # fmt: skip
    drawn = _curves.plot(history, 0, str(tmp_path / "c.png"))
    assert drawn == {"path": None, "note": _curves.MISSING}
    assert not (tmp_path / "c.png").exists()
    assert "matplotlib is not installed" in fit._curves_line(drawn)


def test_phase_starts():
    history = [{"phase": p} for p in ("head", "head", "stage 1", "stage 1", "stage 2")]
    assert _curves.phase_starts(history) == [
        (0, "head"),
        (2, "stage 1"),
        (4, "stage 2"),
    ]
