"""`keras-transfer fit --learning-rate auto`: the head rate from `lr_find`."""

import json
import math

import keras
import numpy as np
import pytest
from PIL import Image

from keras_transfer import cli

SIZE = 16


@pytest.mark.tensorflow_only
def test_fit_learning_rate_auto_reports_the_curve(capsys, tmp_path):
    from keras_transfer.layers import export_reusable_savedmodel

    rng = np.random.default_rng(0)
    for c, name in enumerate(("bright", "dark")):
        (tmp_path / "data" / name).mkdir(parents=True)
        for i in range(8):
            base = 200 if c == 0 else 40
            pixels = np.clip(base + rng.integers(-30, 30, (SIZE, SIZE, 3)), 0, 255)
            Image.fromarray(pixels.astype(np.uint8)).save(
                tmp_path / "data" / name / f"{i}.png"
            )
    keras.utils.set_random_seed(2)
    backbone = keras.Sequential(
        [keras.Input((SIZE, SIZE, 3)), keras.layers.Conv2D(4, 3, activation="relu")]
    )
    hub = export_reusable_savedmodel(backbone, str(tmp_path / "sm"))
    out = tmp_path / "model.keras"
    status = cli.main([
        "fit", str(tmp_path / "data"), "--backbone", hub, "--image-size", str(SIZE),
        "--epochs", "0", "--head-epochs", "2", "--batch-size", "8",
        "--learning-rate", "auto", "--out", str(out),
    ])  # fmt: skip
    err = capsys.readouterr().err
    assert status == 0, err
    report = json.loads((tmp_path / "model.json").read_text())
    found = report["lr_find"]
    assert found["suggestion"] is not None and found["used"] == found["suggestion"]
    assert report["learning_rate"] == found["used"]
    assert 1e-6 <= found["used"] < 10.0
    rates = found["learning_rates"]
    assert len(rates) == len(found["losses"]) >= 5
    assert math.isclose(rates[0], 1e-6) and all(b > a for a, b in zip(rates, rates[1:]))
    lowest = min(range(len(rates)), key=lambda i: found["losses"][i])
    assert math.isclose(found["used"], rates[lowest] / 10)
    with open(found["plot"], "rb") as png:
        assert png.read(8) == b"\x89PNG\r\n\x1a\n"
    assert "from lr_find" in (tmp_path / "model.md").read_text()
    assert "lr_find: head learning rate" in err


def test_learning_rate_must_be_a_number_or_auto(capsys):
    with pytest.raises(SystemExit):
        cli.main(["fit", "somewhere", "--backbone", "x", "--learning-rate", "fast"])
    assert "must be a number or `auto`" in capsys.readouterr().err
