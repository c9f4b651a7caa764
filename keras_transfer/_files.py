"""Files written whole or not at all: a temporary file beside the target, then a rename.

Shared by the `keras-transfer` commands (`cli/_io.py`) and the demo's plot
(`demo/report.py`), so that neither imports the other.
"""

from __future__ import annotations

import os
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
