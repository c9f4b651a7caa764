"""benchmarks/data_autotune.py at its smallest setting (no timing asserts)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

SCRIPT = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    "benchmarks",
    "data_autotune.py",
)


def _run(*args):
    return subprocess.run(
        [sys.executable, SCRIPT, *args], capture_output=True, text=True, check=False
    )


def test_bad_counts_are_refused_with_the_values():
    result = _run("--epochs", "0")
    assert result.returncode == 2
    assert "--epochs and --repeats must be >= 1. Received: epochs=0" in result.stderr


@pytest.mark.slow
@pytest.mark.tensorflow_only
def test_one_epoch_per_feed_gives_a_row_per_feed():
    result = _run("--epochs", "1", "--repeats", "1")
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [
        line
        for line in result.stdout.splitlines()
        if line.startswith("| ") and "---" not in line
    ]
    assert [row.split(" | ")[0] for row in rows[1:]] == [
        "| model.fit(x, y) (Keras arrays, autotuner on)",
        "| make_dataset(data_autotune=True)",
        "| make_dataset(data_autotune=False)",
    ]
    for row in rows[1:]:
        median, low, high, cores, slow = re.search(
            r"\| ([\d.]+) \(([\d.]+)-([\d.]+)\) \| ([\d.]+) \| (\d) of 1 \|", row
        ).groups()
        assert float(low) == float(median) == float(high) > 0  # one epoch: one value
        assert 0 < float(cores) <= os.cpu_count() + 0.5
        assert slow == ("1" if float(cores) < 1.5 else "0")
