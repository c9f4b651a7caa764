"""`read_class_names`: the class names an exported artifact carries."""

from __future__ import annotations

import json
import os

from keras_transfer.export import _runtimes, _tflite_metadata

ONNX_KEY = "class_names"
INFO = "keras_transfer.json"
LABELS = "labels.txt"


def _lines(data: bytes) -> list[str]:
    return [line for line in data.decode("utf-8").splitlines() if line]


def read_class_names(path: str) -> list[str]:
    """Reads the class names from inside an artifact `export_model` wrote.

    - `.tflite`: the output tensor's `TENSOR_AXIS_LABELS` file named by the
      `TFLITE_METADATA` flatbuffer (what LiteRT / MediaPipe image classifiers
      read), zipped inside the file;
    - `.onnx`: the model's `metadata_props` entry `class_names` (a JSON list;
      ONNX Runtime shows it as `session.get_modelmeta().custom_metadata_map`);
    - a SavedModel directory: its `labels.txt`.

    Args:
        path: the exported `.tflite`, `.onnx` or SavedModel directory.

    Returns:
        The class names in output order (column `i` is `class_names[i]`).

    Raises:
        ValueError: `path` is no artifact, or it carries no class names.

    Example:

    ```python
    import os, tempfile
    import keras, numpy as np
    from keras_transfer.export import export_model, read_class_names

    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(2, activation="softmax")])
    path = os.path.join(tempfile.mkdtemp(), "model.onnx")
    export_model(model, path, "onnx", class_names=["cats", "dogs"],
                 check_images=np.zeros((2, 8, 8, 3)))
    assert read_class_names(path) == ["cats", "dogs"]
    ```
    """
    kind = _runtimes.kind_of(path)
    names = None
    if kind == "litert":
        found = _tflite_metadata.read(path)
        if found["labels_file"] in found["files"]:
            names = _lines(found["files"][found["labels_file"]])
    elif kind == "onnx":
        import onnx

        props = {
            p.key: p.value
            for p in onnx.load(path, load_external_data=False).metadata_props
        }
        if ONNX_KEY in props:
            names = json.loads(props[ONNX_KEY])
    elif os.path.isfile(os.path.join(path, LABELS)):
        with open(os.path.join(path, LABELS), "rb") as handle:
            names = _lines(handle.read())
    if names is None:
        raise ValueError(
            f"`path` carries no class names (it was not written by export_model "
            f"with class_names). Received: path={path!r}"
        )
    return names
