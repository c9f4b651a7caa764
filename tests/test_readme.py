"""Every ```python block in README.md runs, so the examples cannot rot.

A block preceded by the line `<!-- readme-test: tensorflow-only -->` runs on
the TensorFlow backend only (it is skipped with that reason elsewhere).
Each block runs in a fresh subprocess, in a temporary working directory.
"""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

import keras
import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
_BLOCK = re.compile(r"(<!-- readme-test: ([a-z-]+) -->\s*\n)?```python\n(.*?)```", re.S)


def _blocks():
    text = README.read_text()
    for number, match in enumerate(_BLOCK.finditer(text), start=1):
        line = text[: match.start()].count("\n") + 1
        yield pytest.param(
            match.group(2), match.group(3), id=f"block{number}-line{line}"
        )


def test_readme_has_examples():
    assert len(list(_blocks())) >= 1


@pytest.mark.slow
@pytest.mark.parametrize("marker,code", list(_blocks()))
def test_readme_block_runs(marker, code, tmp_path):
    if marker not in (None, "tensorflow-only"):
        raise AssertionError(f"unknown readme-test marker {marker!r}")
    if marker == "tensorflow-only" and keras.backend.backend() != "tensorflow":
        pytest.skip("README block marked tensorflow-only")
    env = dict(os.environ, KERAS_BACKEND=keras.backend.backend())
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
