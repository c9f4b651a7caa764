"""`keras-transfer fit` as a long run: killed with SIGKILL, run again, same model."""

import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
from _tiny_backbone import export_tiny_savedmodel
from test_cli_fit import SIZE, _write_folder

# Every epoch backed up (COST_RATIO 0), so that the kill lands after a few saves.
_FIT = """
import sys
from keras_transfer.recipe import _backup
_backup.COST_RATIO = 0.0
from keras_transfer import cli
sys.exit(cli.main(sys.argv[1:]))
"""


def _command(folder, backbone, out):
    argv = ["fit", folder, "--backbone", backbone, "--image-size", SIZE, "--epochs", 40,
            "--head-epochs", 3, "--batch-size", 8, "--validation-split", 0.25,
            "--learning-rate", 0.05, "--out", out]  # fmt: skip
    return [sys.executable, "-c", _FIT, *map(str, argv)]


def _weights(path):
    model = keras.saving.load_model(path, safe_mode=False)
    return [keras.ops.convert_to_numpy(w) for w in model.weights]


@pytest.mark.slow
@pytest.mark.tensorflow_only
def test_fit_killed_with_sigkill_resumes_to_the_uninterrupted_model(tmp_path):
    folder = _write_folder(tmp_path / "data")
    backbone = export_tiny_savedmodel(str(tmp_path / "hub"), SIZE)
    env = {**os.environ, "KERAS_BACKEND": keras.backend.backend()}
    plain = subprocess.run(_command(folder, backbone, tmp_path / "plain.keras"),
                           env=env, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert plain.returncode == 0, plain.stderr
    out, state = tmp_path / "model.keras", tmp_path / "model.backup" / "state.json"
    process = subprocess.Popen(_command(folder, backbone, out), env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and process.poll() is None:
            try:
                saved = json.loads(state.read_text())
            except (OSError, ValueError):
                saved = None
            if saved and saved["phase"] == "stage 1" and saved["epoch"] >= 3:
                os.kill(process.pid, signal.SIGKILL)  # no handler, no clean-up
                break
            time.sleep(0.01)
    finally:
        process.wait(timeout=60)
    if process.returncode != -signal.SIGKILL:
        pytest.fail(f"the run ended ({process.returncode}) before it could be killed")
    assert not out.exists()
    done = len(json.loads(state.read_text())["history"])
    rerun = subprocess.run(_command(folder, backbone, out), env=env,
                           capture_output=True, text=True, timeout=600)  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr
    assert "Found the backup of an interrupted run" in rerun.stderr
    assert not state.parent.exists()
    report = json.loads((tmp_path / "model.json").read_text())
    assert report["resumed_from"]["epochs_done"] == done
    expected = json.loads((tmp_path / "plain.json").read_text())
    assert len(report["history"]) == len(expected["history"])
    for a, b in zip(_weights(out), _weights(tmp_path / "plain.keras")):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


# -- progress and quiet logs --------------------------------------------------


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class _Stream:
    def __init__(self, tty):
        self.tty, self.text = tty, ""

    def isatty(self):
        return self.tty

    def write(self, text):
        self.text += text

    def flush(self):
        pass


@pytest.mark.parametrize("tty", [False, True])
def test_progress_lines_in_a_log_and_on_a_terminal(tty):
    from keras_transfer.cli._images import Progress

    clock, stream = _Clock(), _Stream(tty)
    shown = Progress("Checking images", 300, every=10.0, stream=stream, clock=clock)
    for done in range(1, 301):
        clock.now = done / 8  # 8 images per second (exact in binary), 37.5 s in all
        shown.update(done)
    shown.close()
    if tty:  # one line rewritten in place, then a newline
        assert stream.text.count("\n") == 1
        assert stream.text.count("\r") == 300 // 2 + 1  # every 0.2 s: every 2nd image
        assert "\rChecking images: 150/300 (8 img/s)" in stream.text
    else:  # a plain line every 10 s, then the total
        assert stream.text.splitlines() == [
            "Checking images: 80/300 (8 img/s)",
            "Checking images: 160/300 (8 img/s)",
            "Checking images: 240/300 (8 img/s)",
            "Checking images: 300/300 (8 img/s) in 37.5 s",
        ]


def test_no_progress_without_a_label():
    from keras_transfer.cli._images import Progress

    stream = _Stream(False)
    shown = Progress(None, 10, every=0.0, stream=stream)
    shown.update(5)
    shown.close()
    assert stream.text == ""


@pytest.mark.tensorflow_only
def test_a_default_fit_prints_no_tensorflow_log_lines(tmp_path):
    folder = _write_folder(tmp_path / "data")
    backbone = export_tiny_savedmodel(str(tmp_path / "hub"), SIZE)
    argv = ["fit", folder, "--backbone", backbone, "--image-size", SIZE, "--epochs", 1,
            "--head-epochs", 2, "--batch-size", 8, "--out", tmp_path / "m.keras"]  # fmt: skip
    command = [sys.executable, "-m", "keras_transfer.cli", *map(str, argv)]
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    leaked = [
        line for line in run.stderr.splitlines()
        if line.startswith(("E0000", "I0000", "W0000", "WARNING"))
        or "cuda" in line.lower() or "tf.function retracing" in line
    ]  # fmt: skip
    assert leaked == []
    assert "Checking training images: 12/13" in run.stderr  # the progress is there
    assert "Decoding training images: 12/12" in run.stderr
    assert "Extracting activations: 12 images x 1 view(s)" in run.stderr
