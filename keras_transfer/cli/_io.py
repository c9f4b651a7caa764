"""Output files of the `keras-transfer` commands, written whole or not at all.

Every file a command writes (models, JSON and markdown reports, plots) goes
through a temporary file in the same directory and a rename, so an
interrupted run leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Callable


def atomic_write(path: str, write: Callable[[str], object], suffix: str = "") -> None:
    """Calls `write(temp_path)` beside `path`, then renames the result onto `path`.

    A failure leaves `path` as it was and removes the temporary file
    (`.tmp-*` in the same directory, so the rename stays on one file system).

    Args:
        path: the file to write; its directory is created if missing.
        write: writes the whole content to the path it is given.
        suffix: the temporary file's extension, for writers that infer the
            format from it (`.keras`, `.png`). Defaults to `""`.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=suffix)
    os.close(handle)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


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
