"""Private: a Keras model -> a `.onnx` file with its class names inside.

Keras's own ONNX export (`model.export(path, format="onnx")`, through
`tf2onnx` on the TensorFlow backend) writes the graph; the input is named
`image` (batch size free), the output is renamed `probability`, and the
class names go into the model's `metadata_props` (`class_names`: a JSON
list; `keras_transfer`: the whole `keras_transfer.json`), which ONNX
Runtime shows as `session.get_modelmeta().custom_metadata_map`.
"""

from __future__ import annotations

import json
import warnings

import keras

OUTPUT = "probability"


def convert(model: keras.Model, path: str, info: dict) -> dict:
    """Writes `path`; returns what was written (`{"opset": N, "input": name, ...}`)."""
    import onnx

    shape = (None, *model.input_shape[1:])
    with warnings.catch_warnings():
        # Keras's tf2onnx patch probes `np.object` (a NumPy 2 FutureWarning).
        warnings.simplefilter("ignore", FutureWarning)
        model.export(
            path, format="onnx", verbose=False,
            input_signature=[keras.InputSpec(shape=shape, dtype="float32", name="image")],
        )  # fmt: skip
    graph = onnx.load(path)
    old = graph.graph.output[0].name
    for node in graph.graph.node:
        node.output[:] = [OUTPUT if name == old else name for name in node.output]
    graph.graph.output[0].name = OUTPUT
    props = {"keras_transfer": json.dumps(info)}
    if info.get("class_names") is not None:
        props["class_names"] = json.dumps(list(info["class_names"]))
    onnx.helper.set_model_props(graph, props)
    onnx.checker.check_model(graph)
    onnx.save(graph, path)
    opset = max((o.version for o in graph.opset_import if o.domain in ("", "ai.onnx")),
                default=None)  # fmt: skip
    return {"opset": opset, "input": graph.graph.input[0].name, "output": OUTPUT}
