"""The demo's report: the plot's panels and the markdown table."""

import struct

from keras_transfer.demo import report
from keras_transfer.demo.config import ALL, ARMS


def _results(ks):
    summary = [
        {"arm": arm, "k": k, "seeds": 3, "accuracy_mean": 0.5 + 0.1 * a,
         "accuracy_std": 0.02, "accuracy_binary_mean": 0.8, "accuracy_balanced_mean": 0.4,
         "train_seconds_mean": 10.0 * (a + 1), "images_per_sec_mean": 5.0}
        for k in ks for a, arm in enumerate(ARMS)
    ]  # fmt: skip
    return {"arms": list(ARMS), "summary": summary, "num_test": 656,
            "config": {"task": "solar"}}  # fmt: skip


def _png_width(path):
    return struct.unpack(">I", path.read_bytes()[16:20])[0]


def test_plot_bars_and_time_and_lines_when_several_k(tmp_path):
    one, several = tmp_path / "one.png", tmp_path / "several.png"
    report.write_plot(_results([5]), str(one))
    report.write_plot(_results([5, 20, ALL]), str(several))
    # 5.2 in per panel at 100 dpi: accuracy bars + train time, then + the lines.
    assert _png_width(one) == 1040
    assert _png_width(several) == 1560


def test_table_names_the_full_split_and_the_balanced_and_binary_accuracy():
    table = report.markdown_table(_results([5, ALL]))
    assert "| balanced acc | defective-vs-functional acc |" in table.splitlines()[0]
    assert (
        "| all | gradual | 0.800 +- 0.020 | 0.400 | 0.800 | 3 | 40.0 | 5.0 |" in table
    )
