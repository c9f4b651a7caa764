"""`keras-transfer demo --task solar`: elpv data, the paper's split, plot, a tiny run."""

import json
import struct

import numpy as np
import pytest

from keras_transfer import cli
from keras_transfer.cli import _demo_report, _demo_solar, demo


def test_elpv_cells_and_the_papers_75_25_split():
    images, labels, mono = _demo_solar.load_cells()
    assert images.shape == (2624, 300, 300) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [1508, 295, 106, 715]
    assert int(mono.sum()) == 1074
    pool, test = _demo_solar.split_75_25(labels, mono)
    assert (len(pool), len(test)) == (1968, 656)  # Deitsch et al. 2019
    assert not set(pool) & set(test)
    np.testing.assert_array_equal(test, _demo_solar.split_75_25(labels, mono)[1])
    for c in range(4):  # a quarter of every (class, cell type) stratum
        for kind in (True, False):
            stratum = np.flatnonzero((labels == c) & (mono == kind))
            assert abs(np.isin(stratum, test).sum() - 0.25 * len(stratum)) < 1


def test_split_and_subsample_on_known_strata():
    labels = np.repeat([0, 1, 2, 3], [40, 20, 8, 12])
    mono = np.tile([True, False], 40)
    pool, test = _demo_solar.split_75_25(labels, mono)
    assert np.bincount(labels[test]).tolist() == [10, 6, 2, 2]  # ties: lower stratum
    assert len(pool) == 60
    few = _demo_solar.subsample(test, labels, 10)
    assert set(few) <= set(test)
    assert np.bincount(labels[few], minlength=4).tolist() == [5, 3, 1, 1]
    assert _demo_solar.subsample(test, labels, 100) is test


def test_to_rgb_resizes_greyscale_to_rgb_0_255():
    cells = np.zeros((2, 300, 300), np.uint8)
    cells[1] = 255
    rgb = _demo_solar.to_rgb(cells, 32)
    assert rgb.shape == (2, 32, 32, 3) and rgb.dtype == np.float32
    assert rgb[0].max() == 0.0 and rgb[1].min() == 255.0


def test_backbones_pretrained_and_scratch():
    from keras_transfer.applications import EfficientNetLite0

    config = demo.DemoConfig(**{**demo.SOLAR, "image_size": 32})
    backbones = _demo_solar.Backbones(config)
    pretrained = backbones.make(True, seed=0)
    reference = EfficientNetLite0(
        include_top=False, pooling="avg", input_shape=(32, 32, 3)
    )
    for a, b in zip(pretrained.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(a, b)
    scratch = backbones.make(False, seed=0)
    kernel = scratch.get_layer("stem_conv").get_weights()[0]
    assert not np.allclose(kernel, reference.get_layer("stem_conv").get_weights()[0])
    assert scratch.get_layer("top_bn").momentum == 0.9
    assert pretrained.get_layer("top_bn").momentum == 0.99


def _results(ks):
    summary = [
        {"arm": arm, "k": k, "seeds": 3, "accuracy_mean": 0.5 + 0.1 * a,
         "accuracy_std": 0.02, "accuracy_binary_mean": 0.8, "accuracy_balanced_mean": 0.4,
         "train_seconds_mean": 10.0 * (a + 1), "images_per_sec_mean": 5.0}
        for k in ks for a, arm in enumerate(demo.ARMS)
    ]  # fmt: skip
    return {"arms": list(demo.ARMS), "summary": summary, "num_test": 656,
            "config": {"task": "solar"}}  # fmt: skip


def _png_width(path):
    return struct.unpack(">I", path.read_bytes()[16:20])[0]


def test_plot_bars_and_time_and_lines_when_several_k(tmp_path):
    one, several = tmp_path / "one.png", tmp_path / "several.png"
    _demo_report.write_plot(_results([5]), str(one))
    _demo_report.write_plot(_results([5, 20, demo.ALL]), str(several))
    # 5.2 in per panel at 100 dpi: accuracy bars + train time, then + the lines.
    assert _png_width(one) == 1040
    assert _png_width(several) == 1560


def test_table_names_the_full_split_and_the_balanced_and_binary_accuracy():
    table = _demo_report.markdown_table(_results([5, demo.ALL]))
    assert "| balanced acc | defective-vs-functional acc |" in table.splitlines()[0]
    assert "| all | gradual | 0.800 +- 0.020 | 0.400 | 0.800 | 3 | 40.0 | 5.0 |" in table


def test_solar_scores_on_a_known_confusion():
    # 6 defect-free cells, 2 each of p=1/3, 2/3, 1; predictions: all defect-free
    # right, one p=1/3 right, the p=2/3 cells called p=1, the p=1 cells right.
    y = np.array([0] * 6 + [1, 1, 2, 2, 3, 3])
    predicted = np.array([0] * 6 + [1, 0, 3, 3, 3, 3])
    scores = demo.scores(predicted, y, "solar")
    assert scores["accuracy"] == 9 / 12
    assert scores["accuracy_balanced"] == (1 + 0.5 + 0 + 1) / 4
    # functional (p < 1/2) vs defective: p=1/3 called p=0 and p=2/3 called p=1
    # are both on the right side.
    assert scores["accuracy_binary"] == 1.0
    assert demo.scores(predicted, y) == {"accuracy": 9 / 12}  # digits: accuracy only


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
