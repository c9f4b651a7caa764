"""keras_transfer.export: the fitted model on a phone, a microcontroller or a server.

- `export_model`: a Keras image classifier -> a LiteRT `.tflite` (float32,
  float16, dynamic-range or full-integer int8 with float or integer input and
  output), an ONNX file or a TF SavedModel, with its class names inside, and
  checked: the file is run in its own runtime on sample images and compared
  with the Keras model (top-1 agreement, probability difference, latency).
- `load_artifact`: an exported file as a function, run by its runtime.
- `read_class_names`: the class names an exported file carries.
- `ExportCheckError`: the check failed; nothing was written.

TensorFlow backend only (the converters are TensorFlow's). Needs
`pip install "keras-transfer[export]"` (ai-edge-litert, onnxruntime, tf2onnx,
onnx) for LiteRT checks through the maintained interpreter and for ONNX.
"""

from keras_transfer.export.export_check_error import ExportCheckError
from keras_transfer.export.export_model import export_model
from keras_transfer.export.load_artifact import load_artifact
from keras_transfer.export.read_class_names import read_class_names

__all__ = ["ExportCheckError", "export_model", "load_artifact", "read_class_names"]
