"""The `keras-transfer` command itself: version, help without TensorFlow, errors."""

import argparse
import subprocess
import sys

import pytest

import keras_transfer
from keras_transfer import cli


def test_version_matches_package(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert (
        capsys.readouterr().out.strip()
        == f"keras-transfer {keras_transfer.__version__}"
    )


@pytest.mark.parametrize(
    "argv", [["--help"], ["--version"], ["fit", "--help"], ["predict", "--help"]]
)
def test_help_and_version_do_not_import_keras_or_tensorflow(argv):
    # In a fresh interpreter: the console script's module, then the command line.
    code = (
        "import sys\n"
        "from keras_transfer.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = sorted(m for m in ('tensorflow', 'keras', 'jax') if m in sys.modules)\n"
        "print('heavy:', heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert "heavy: []" in result.stdout
    assert (
        "usage: keras-transfer" in result.stdout or "keras-transfer " in result.stdout
    )


def test_console_script_help_lists_every_command():
    result = subprocess.run(
        [sys.executable, "-m", "keras_transfer.cli", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "usage: keras-transfer" in result.stdout
    for command in ("demo", "fit", "predict", "evaluate", "export"):
        assert command in result.stdout


def _run_with(monkeypatch, capsys, error):
    """Runs `main` on a command whose `run` raises `error`."""
    import types

    module = types.SimpleNamespace(run=lambda args: (_ for _ in ()).throw(error))
    monkeypatch.setattr(cli, "_import_command", lambda name, verbose: module)
    status = cli.main(["predict", "m.keras", "x.png"])
    return status, capsys.readouterr().err


def test_user_error_is_one_line_with_status_2(monkeypatch, capsys):
    status, err = _run_with(monkeypatch, capsys, cli.UserError("`MODEL` is missing."))
    assert status == 2
    assert err == "keras-transfer predict: error: `MODEL` is missing.\n"


@pytest.mark.parametrize(
    "error", [TypeError("bug"), RuntimeError("bug"), ValueError("bug")]
)
def test_unexpected_exceptions_keep_their_traceback(monkeypatch, capsys, error):
    with pytest.raises(type(error), match="bug"):
        _run_with(monkeypatch, capsys, error)


_NOISY_COMMAND = """
import os

os.write(2, b"I0000 port.cc:153] oneDNN custom operations are on\\n")  # as TF's C++ does


def run(args):
    return 0
"""

_RUN_NOISY = """
import sys

import keras_transfer.cli as cli

cli.__path__.append(sys.argv[1])  # keras_transfer.cli.noisy is the command module
cli._COMMANDS["predict"] = (cli._COMMANDS["predict"][0], "noisy")
sys.exit(cli.main(["predict", "m.keras", "x.png", *sys.argv[2:]]))
"""


def test_tensorflow_start_up_logs_are_hidden_unless_verbose(tmp_path):
    (tmp_path / "noisy.py").write_text(_NOISY_COMMAND)
    runs = {
        flags: subprocess.run(
            [sys.executable, "-c", _RUN_NOISY, str(tmp_path), *flags],
            capture_output=True,
            text=True,
        )
        for flags in ((), ("--verbose",))
    }
    assert [run.returncode for run in runs.values()] == [0, 0]
    assert "oneDNN" not in runs[()].stderr
    assert "oneDNN" in runs[("--verbose",)].stderr


def test_every_command_has_verbose():
    parser = cli.build_parser()
    subparsers = next(
        a for a in parser._actions if isinstance(a, argparse._SubParsersAction)
    )
    for name, sub in subparsers.choices.items():
        assert "--verbose" in sub.format_help(), name
