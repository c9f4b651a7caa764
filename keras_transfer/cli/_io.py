"""Output files of the `keras-transfer` commands, written whole or not at all.

Every file a command writes (models, JSON and markdown reports, plots) goes
through a temporary file in the same directory and a rename, so an
interrupted run leaves either the old file or the new one, never half of one
(`atomic_write`, from `keras_transfer/_files.py`, which the demo's plot uses too).
"""

from __future__ import annotations

import json
import sys

from keras_transfer._files import atomic_write


def write_text(path: str, text: str) -> None:
    """Writes `text` to `path` through a temporary file and a rename."""

    def write(tmp: str) -> None:
        with open(tmp, "w") as out:
            out.write(text)

    atomic_write(path, write, suffix=".part")


def write_json(path: str, data: object) -> None:
    """Writes `data` as indented JSON (non-JSON values as `str`), atomically."""
    write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def say(message: str) -> None:
    """Prints a progress line on stderr (stdout is kept for the results)."""
    print(message, file=sys.stderr, flush=True)
