"""Private: where an export is written, so that it is whole or absent.

The artifact is written under a temporary name in OUT's directory that keeps
OUT's format suffix (`.tmp-XXXX.tflite`: Keras's LiteRT export refuses a
path without `.tflite`), checked there, and renamed onto OUT only when the
check passed. The class names beside it (`labels.txt`) and the JSON report
are written the same way, after the rename.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile

LABELS = "labels.txt"
INFO = "keras_transfer.json"


def sidecars(path: str, directory_artifact: bool) -> dict[str, str]:
    """`{"labels": ..., "info": ...}`: inside a SavedModel directory, else beside OUT."""
    if directory_artifact:
        return {"labels": os.path.join(path, LABELS), "info": os.path.join(path, INFO)}
    return {
        "labels": os.path.join(os.path.dirname(path), LABELS),
        "info": f"{path}.{INFO}",
    }


def labels_text(class_names: list[str]) -> bytes:
    return "".join(f"{name}\n" for name in class_names).encode("utf-8")


def check_target(
    path: str, overwrite: bool, labels: str | None, text: bytes | None
) -> None:
    """Refuses an existing OUT (unless `overwrite`) or a `labels.txt` of other classes."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ValueError(
            f"`path` must be in an existing directory; {folder!r} does not exist. "
            f"Received: path={path!r}"
        )
    if os.path.lexists(path) and not overwrite:
        raise ValueError(
            f"`path` exists. Pass overwrite=True (--overwrite) to replace it, or choose "
            f"another path. Nothing was changed. Received: path={path!r}"
        )
    if labels and text is not None and os.path.isfile(labels) and not overwrite:
        with open(labels, "rb") as handle:
            if handle.read() != text:
                raise ValueError(
                    f"{labels!r} exists with other class names; the export writes its "
                    "class names there. Pass overwrite=True (--overwrite) to replace "
                    f"it, or export to another folder. Received: path={path!r}"
                )


def temporary(path: str, suffix: str, directory: bool) -> str:
    """A fresh temporary path beside `path`, ending in `suffix`."""
    folder = os.path.dirname(os.path.abspath(path))
    if directory:
        return tempfile.mkdtemp(dir=folder, prefix=".tmp-export-")
    handle, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-export-", suffix=suffix)
    os.close(handle)
    return tmp


def remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.remove(path)


def move(tmp: str, path: str) -> None:
    """Renames `tmp` onto `path`, replacing a file or directory there."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    os.replace(tmp, path)


def write(path: str, data: bytes) -> None:
    """Writes `data` to `path` through a temporary file and a rename."""
    tmp = temporary(path, ".part", directory=False)
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def json_bytes(data: dict) -> bytes:
    return (json.dumps(data, indent=2, default=str) + "\n").encode("utf-8")


def write_json(path: str, data: dict) -> None:
    write(path, json_bytes(data))


def size(path: str) -> int:
    """Bytes of a file, or of all files under a directory."""
    if not os.path.isdir(path):
        return os.path.getsize(path)
    return sum(
        os.path.getsize(os.path.join(root, name))
        for root, _, names in os.walk(path)
        for name in names
    )
