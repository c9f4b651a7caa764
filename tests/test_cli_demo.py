"""`keras-transfer demo` (`cli/demo.py`): user errors, and both tasks run end to end.

The harness itself (`keras_transfer.demo`) is tested in `tests/demo/`.
"""

import json

import keras
import pytest

from keras_transfer import cli


@pytest.mark.parametrize(
    "argv", [["--k", "0"], ["--seeds", "0"], ["--arms", "magic"], ["--k", "600"]]
)
def test_bad_demo_arguments_are_user_errors(capsys, tmp_path, argv):
    status = cli.main(
        ["demo", "--num-test", "100", "--cache-dir", str(tmp_path), *argv]
    )
    err = capsys.readouterr().err
    assert status == 2
    assert "keras-transfer demo: error:" in err and "Traceback" not in err


@pytest.mark.skipif(
    keras.backend.backend() == "tensorflow", reason="hub is the default on TensorFlow"
)
def test_hub_backbone_off_tensorflow_is_a_user_error(capsys, tmp_path):
    status = cli.main(
        ["demo", "--backbone-source", "hub", "--cache-dir", str(tmp_path)]
    )
    err = capsys.readouterr().err
    assert status == 2
    assert "keras-transfer demo: error:" in err and "--backbone-source keras" in err
    assert "Traceback" not in err


@pytest.mark.slow
def test_demo_runs_the_real_path_at_a_reduced_setting(capsys, tmp_path):
    out, plot = tmp_path / "demo.json", tmp_path / "demo.png"
    status = cli.main(
        [
            "demo", "--k", "2", "--seeds", "1", "--num-test", "200", "--epochs", "2",
            "--head-epochs", "30", "--finetune-epochs", "2",
            "--cache-dir", str(tmp_path / "cache"), "--json", str(out), "--plot", str(plot),
        ]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert status == 0, captured.err
    results = json.loads(out.read_text())
    assert results["arms"] == ["scratch", "frozen", "full", "gradual"]
    assert results["num_test"] == 200
    assert {r["arm"] for r in results["runs"]} == set(results["arms"])
    assert [(r["k"], r["arm"]) for r in results["summary"]] == [
        (2, "scratch"), (2, "frozen"), (2, "full"), (2, "gradual"),
    ]  # fmt: skip
    by_arm = {r["arm"]: r for r in results["runs"]}
    # 20 labelled digits (k=2, 10 classes): images seen = 20 x epochs per phase;
    # gradual continues from the frozen arm's head, so it counts those 30 epochs.
    assert {arm: r["train_images"] for arm, r in by_arm.items()} == {
        "scratch": 20 * 2, "frozen": 20 * 30, "full": 20 * 2, "gradual": 20 * 30 + 20 * 2,
    }  # fmt: skip
    for run in results["runs"]:
        assert run["images_per_sec"] == pytest.approx(
            run["train_images"] / run["train_seconds"]
        )
        # An accuracy on 200 test digits is a whole number of digits.
        assert run["accuracy"] * 200 == pytest.approx(round(run["accuracy"] * 200))
    for row in results["summary"]:  # one seed: the mean is the run, no spread
        assert row["accuracy_mean"] == by_arm[row["arm"]]["accuracy"]
        assert row["accuracy_std"] == 0.0
    # A head on pretrained features is far above chance (0.1).
    assert by_arm["frozen"]["accuracy"] >= 0.3
    if results["backend"] == "tensorflow":
        assert results["backbone_source"] == "hub"
        assert list((tmp_path / "cache").glob("vgg16_hed_*_savedmodel/saved_model.pb"))
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| 2 | gradual |" in captured.out
    assert "[1/1] k=2 seed=0" in captured.err


@pytest.mark.slow
def test_solar_demo_runs_at_a_reduced_setting(capsys, tmp_path):
    out, plot = tmp_path / "solar.json", tmp_path / "solar.png"
    status = cli.main(
        [
            "demo", "--task", "solar", "--k", "2", "--seeds", "1", "--num-test", "16",
            "--epochs", "1", "--head-epochs", "2", "--finetune-epochs", "2",
            "--json", str(out), "--plot", str(plot),
        ]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert "CC BY-NC-SA 4.0" in captured.err and "arXiv:1807.02894" in captured.err
    results = json.loads(out.read_text())
    assert results["config"]["task"] == "solar"
    assert results["num_test"] == 16
    # 9 of the 16 stratified test cells are defect-free (p=0): the majority guess.
    assert results["majority_accuracy"] == 9 / 16
    by_arm = {r["arm"]: r for r in results["runs"]}
    # 8 labelled cells (k=2, 4 classes) x epochs per phase (the slanted
    # triangle needs two steps: two fine-tuning epochs of one batch).
    assert {arm: r["train_images"] for arm, r in by_arm.items()} == {
        "scratch": 8, "frozen": 16, "full": 8, "gradual": 16 + 16,
    }  # fmt: skip
    for run in results["runs"]:
        assert run["accuracy"] * 16 == pytest.approx(round(run["accuracy"] * 16))
        assert run["accuracy_binary"] * 16 == pytest.approx(
            round(run["accuracy_binary"] * 16)
        )
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "held-out test cells" in captured.out
