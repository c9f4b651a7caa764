import subprocess
import sys

import pytest

import keras_transfer
from keras_transfer import cli


def test_version_matches_package(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"keras-transfer {keras_transfer.__version__}"


def test_console_script_help_lists_the_program():
    result = subprocess.run(
        [sys.executable, "-m", "keras_transfer.cli", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "usage: keras-transfer" in result.stdout
