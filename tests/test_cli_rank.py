"""`keras-transfer rank DATA_DIR --backbones ...`: a real PNG folder, tiny backbones."""

import json
import os

import keras
import numpy as np
import pytest
from _tiny_backbone import export_tiny_savedmodel
from PIL import Image

from keras_transfer import cli
from keras_transfer.cli import rank as rank_command

SIZE = 32


def _write_folder(root, per_class=6):
    """bright vs dark PNGs, one corrupt file."""
    rng = np.random.default_rng(0)
    for c, name in enumerate(("bright", "dark")):
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(per_class):
            base = 200 if c == 0 else 40
            pixels = np.clip(base + rng.integers(-30, 30, (SIZE, SIZE, 3)), 0, 255)
            Image.fromarray(pixels.astype(np.uint8)).save(folder / f"{i}.png")
    (root / "bright" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot an image")
    return root


@pytest.fixture(scope="module")
def v3_weights(tmp_path_factory):
    """A local weights file for keras.applications.MobileNetV3Small (no download)."""
    path = str(tmp_path_factory.mktemp("weights") / "v3_small.weights.h5")
    keras.utils.set_random_seed(1)
    build = keras.applications.MobileNetV3Small
    build(weights=None, include_top=False, input_shape=(SIZE, SIZE, 3)).save_weights(
        path
    )
    return path


def _rank(capsys, *argv):
    status = cli.main(["rank", *map(str, argv)])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.mark.slow
def test_rank_a_folder_with_a_failing_backbone(capsys, tmp_path, v3_weights):
    folder = _write_folder(tmp_path / "data")
    out = tmp_path / "rank.json"
    backbones = ["MobileNetV3Small", "NoSuchNet"]
    if keras.backend.backend() == "tensorflow":  # SavedModels are TensorFlow's
        backbones.insert(0, export_tiny_savedmodel(str(tmp_path / "sm"), SIZE))
    status, stdout, err = _rank(
        capsys, folder, "--backbones", *backbones, "--weights",
        f"MobileNetV3Small={v3_weights}", "--image-size", SIZE, "--out", out,
    )  # fmt: skip
    assert status == 0, err
    report = json.loads(out.read_text())
    assert report["class_names"] == ["bright", "dark"]
    assert (
        report["data"]["skipped"] == 1
        and "broken.png" in report["data"]["skipped_examples"][0]
    )
    assert report["settings"]["num_images"] == 12
    assert report["settings"]["folds"] == 5
    rows = {row["name"]: row for row in report["candidates"]}
    assert list(rows) == backbones
    assert (
        rows["NoSuchNet"]["status"] == "failed"
        and "NoSuchNet" in rows["NoSuchNet"]["error"]
    )
    assert rows["MobileNetV3Small"]["status"] == "ok", rows["MobileNetV3Small"]["error"]
    assert rows["MobileNetV3Small"]["feature_dim"] == 576
    ran = [name for name, row in rows.items() if row["status"] == "ok"]
    assert report["recommended"] in ran
    best = max(rows[name]["scores"]["knn"] for name in ran)
    assert rows[report["recommended"]]["scores"]["knn"] == best
    for name in ran:
        assert all(
            0 <= rows[name]["scores"][k] <= 1 for k in ("knn", "linear_probe")
        ), rows
    if len(ran) == 2:  # bright vs dark: the tiny conv's features tell them apart
        assert rows[backbones[0]]["scores"]["knn"] == 1.0, rows
    # The command that fine-tunes the winner, with its weights file.
    command = report["fit_command"]
    assert command.startswith(f"keras-transfer fit {folder} --backbone ")
    assert command.endswith(f"--image-size {SIZE}")
    if report["recommended"] == "MobileNetV3Small":
        assert f"--weights {v3_weights}" in command
    assert command in stdout and "failed: " in stdout
    markdown = (tmp_path / "rank.md").read_text()
    assert "| # | candidate | kNN acc |" in markdown and command in markdown
    png = tmp_path / "rank.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(png) as image:
        assert image.size[0] > 500
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".tmp-")]
    # An existing output is kept unless --overwrite.
    status, _, err = _rank(capsys, folder, "--backbones", "NoSuchNet", "--out", out)
    assert status == 2 and "--overwrite" in err


def test_rank_errors_exit_2_and_write_nothing(capsys, tmp_path):
    folder = _write_folder(tmp_path / "data", per_class=1)  # one image per class
    out = tmp_path / "rank.json"
    status, _, err = _rank(capsys, folder, "--backbones", "NoSuchNet", "--out", out,
                           "--image-size", SIZE)  # fmt: skip
    assert status == 2 and "at least 2 images per class" in err and "`y`" in err
    status, _, err = _rank(
        capsys, folder, "--backbones", "A", "--out", tmp_path / "r.txt"
    )
    assert status == 2 and "`--out`" in err
    status, _, err = _rank(capsys, folder, "--backbones", "A", "--weights", "B=x.h5",
                           "--out", out)  # fmt: skip
    assert status == 2 and "`--weights`" in err
    status, _, err = _rank(capsys, folder, "--backbones", "A", "A", "--out", out)
    assert status == 2 and "twice" in err
    assert not os.path.exists(out)


def test_rank_nothing_runs(capsys, tmp_path):
    folder = _write_folder(tmp_path / "data", per_class=2)
    out = tmp_path / "rank.json"
    with pytest.warns(UserWarning, match="NoSuchNet"):
        status, _, err = _rank(capsys, folder, "--backbones", "NoSuchNet", "--out", out,
                               "--image-size", SIZE)  # fmt: skip
    assert status == 2 and "nothing written" in err and "NoSuchNet" in err
    assert not os.path.exists(out)


def test_matplotlib_missing_fails_before_any_work(capsys, tmp_path, monkeypatch):
    def missing():
        raise ImportError('needs matplotlib: pip install "keras-transfer[demo]"')

    monkeypatch.setattr(rank_command, "require_matplotlib", missing)
    status, _, err = _rank(capsys, tmp_path / "nowhere", "--backbones", "A",
                           "--out", tmp_path / "r.json")  # fmt: skip
    assert status == 2 and "keras-transfer[demo]" in err and "DATA_DIR" not in err


def test_fit_command_quotes_paths():
    command = rank_command.fit_command("my data", "MobileNetV2", "w 1.h5", 96)
    assert command == (
        "keras-transfer fit 'my data' --backbone MobileNetV2 --weights 'w 1.h5' --image-size 96"
    )
