"""The `.keras` file `fit` writes, with the class names inside it.

A `.keras` file is a zip archive; `fit` adds one member, `keras_transfer.json`:
`{"class_names": [...], "image_size": S, "input": ..., "output": ...}`, the
class names in output order. Keras's loader ignores it, so
`keras.saving.load_model(path)` works as usual, and the names travel with the
file. Read them with::

    json.loads(zipfile.ZipFile(path).read("keras_transfer.json"))
"""

from __future__ import annotations

import json
import os
import zipfile

import keras

from keras_transfer.cli._errors import UserError
from keras_transfer.cli._io import atomic_write

METADATA = "keras_transfer.json"
INPUT_CONTRACT = "RGB images, pixel values 0-255 (uint8 or float), shape (n, S, S, 3)"
OUTPUT_CONTRACT = "class probabilities, float32, shape (n, len(class_names))"


def metadata(class_names: list[str], image_size: int) -> dict:
    """What travels with the model: class names in output order, the input contract."""
    return {
        "class_names": list(class_names),
        "image_size": int(image_size),
        "input": INPUT_CONTRACT.replace("S, S", f"{image_size}, {image_size}"),
        "output": OUTPUT_CONTRACT,
    }


def save(model: keras.Model, path: str, info: dict) -> None:
    """Saves `model` to `path` (atomically) with `info` as `keras_transfer.json`."""

    def write(tmp: str) -> None:
        model.save(tmp)
        with zipfile.ZipFile(tmp, "a") as archive:
            archive.writestr(METADATA, json.dumps(info, indent=2) + "\n")

    atomic_write(path, write, suffix=".keras")


def read_metadata(path: str) -> dict:
    """The `keras_transfer.json` of a `.keras` file saved by `fit`."""
    try:
        with zipfile.ZipFile(path) as archive:
            return json.loads(archive.read(METADATA))
    except KeyError:
        raise UserError(
            f"`MODEL` has no class names ({METADATA} inside the .keras file): it "
            "was not saved by `keras-transfer fit`. Received: "
            f"model={path!r}"
        ) from None


def load(path: str, unsafe: bool = False) -> tuple[keras.Model, dict]:
    """Returns `(model, metadata)` of a `.keras` file saved by `fit`."""
    if not os.path.isfile(path) or not zipfile.is_zipfile(path):
        what = "no such file" if not os.path.exists(path) else "not a .keras archive"
        raise UserError(
            "`MODEL` must be a .keras file saved by `keras-transfer fit`. "
            f"Received: model={path!r} ({what})"
        )
    info = read_metadata(path)
    import keras_transfer.layers  # noqa: F401  (registers HubBackbone for loading)

    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=not unsafe)
    except ValueError as error:
        hint = ""
        if "safe_mode" in str(error) or "unsafe" in str(error):
            hint = (
                " The model runs a SavedModel's graph code; if you trust the file, "
                "pass --unsafe."
            )
        raise UserError(
            f"`MODEL` could not be loaded: {error}{hint} Received: model={path!r}"
        ) from error
    return model, info
