"""Private: class names inside a `.tflite` file, the way LiteRT tools read them.

Two layers, as TFLite Support's `MetadataPopulator` writes them (and as the
LiteRT / MediaPipe image classifiers and Android Studio's model binding read
them), without that package (`tflite-support` 0.4.4, its last release, pins
protobuf 3.20, which TensorFlow 2.21's protobuf 7 cannot be replaced by):

1. A `ModelMetadata` flatbuffer (file identifier `M001`, the schema of
   `tensorflow_lite_support/metadata/metadata_schema.fbs`) in a buffer of the
   model, named by the model's `metadata` entry `TFLITE_METADATA`. It
   describes the input (an RGB image; normalization mean 0, std 1: the model
   takes raw 0-255 pixels) and the output (class probabilities) with the
   associated file `labels.txt` of type `TENSOR_AXIS_LABELS`, one class name a
   line in output order; `keras_transfer.json` is a model-level associated
   file (`DESCRIPTIONS`).
2. Those files in a zip archive appended to the flatbuffer (the flatbuffer
   is read from the start, a zip from the end, so the file is both).
   `zipfile.ZipFile("model.tflite").read("labels.txt")` reads them.

Only the tables used here are written; field slots follow the schema's field
order (a union takes two: its type, then its value).
"""

from __future__ import annotations

import io
import json
import zipfile

import flatbuffers
import numpy as np

METADATA_NAME = "TFLITE_METADATA"
IDENTIFIER = b"M001"
PARSER_VERSION = "1.0.0"
LABELS = "labels.txt"
INFO = "keras_transfer.json"

# Enum values of metadata_schema.fbs.
_DESCRIPTIONS, _TENSOR_AXIS_LABELS = 1, 2
_RGB = 1
_FEATURE_PROPERTIES, _IMAGE_PROPERTIES = 1, 2
_NORMALIZATION_OPTIONS = 1


def _strings(builder: flatbuffers.Builder, **fields: str | None) -> dict:
    """Creates the strings first: a flatbuffer table cannot nest their creation."""
    return {k: builder.CreateString(v) for k, v in fields.items() if v is not None}


def _vector(builder: flatbuffers.Builder, offsets: list) -> int:
    builder.StartVector(4, len(offsets), 4)
    for offset in reversed(offsets):
        builder.PrependUOffsetTRelative(offset)
    return builder.EndVector()


def _float_vector(builder: flatbuffers.Builder, values: list[float]) -> int:
    builder.StartVector(4, len(values), 4)
    for value in reversed(values):
        builder.PrependFloat32(value)
    return builder.EndVector()


def _associated_file(builder: flatbuffers.Builder, name: str, description: str,
                     kind: int) -> int:  # fmt: skip
    text = _strings(builder, name=name, description=description)
    builder.StartObject(4)
    builder.PrependUOffsetTRelativeSlot(0, text["name"], 0)
    builder.PrependUOffsetTRelativeSlot(1, text["description"], 0)
    builder.PrependInt8Slot(2, kind, 0)
    return builder.EndObject()


def _image_content(builder: flatbuffers.Builder, size: tuple[int, int]) -> int:
    builder.StartObject(2)  # ImageSize
    builder.PrependUint32Slot(0, size[1], 0)
    builder.PrependUint32Slot(1, size[0], 0)
    image_size = builder.EndObject()
    builder.StartObject(2)  # ImageProperties
    builder.PrependInt8Slot(0, _RGB, 0)
    builder.PrependUOffsetTRelativeSlot(1, image_size, 0)
    properties = builder.EndObject()
    return _content(builder, _IMAGE_PROPERTIES, properties)


def _content(builder: flatbuffers.Builder, kind: int, properties: int) -> int:
    builder.StartObject(3)  # Content
    builder.PrependUint8Slot(0, kind, 0)
    builder.PrependUOffsetTRelativeSlot(1, properties, 0)
    return builder.EndObject()


def _normalization(builder: flatbuffers.Builder) -> int:
    """`(x - 0) / 1`: the model takes raw pixels; it normalizes inside."""
    mean, std = _float_vector(builder, [0.0]), _float_vector(builder, [1.0])
    builder.StartObject(2)  # NormalizationOptions
    builder.PrependUOffsetTRelativeSlot(0, mean, 0)
    builder.PrependUOffsetTRelativeSlot(1, std, 0)
    options = builder.EndObject()
    builder.StartObject(2)  # ProcessUnit
    builder.PrependUint8Slot(0, _NORMALIZATION_OPTIONS, 0)
    builder.PrependUOffsetTRelativeSlot(1, options, 0)
    return _vector(builder, [builder.EndObject()])


def _tensor(builder: flatbuffers.Builder, name: str, description: str, content: int,
            process_units: int | None = None, files: list | None = None) -> int:  # fmt: skip
    text = _strings(builder, name=name, description=description)
    file_vector = _vector(builder, files) if files else None
    builder.StartObject(7)  # TensorMetadata
    builder.PrependUOffsetTRelativeSlot(0, text["name"], 0)
    builder.PrependUOffsetTRelativeSlot(1, text["description"], 0)
    builder.PrependUOffsetTRelativeSlot(3, content, 0)
    if process_units is not None:
        builder.PrependUOffsetTRelativeSlot(4, process_units, 0)
    if file_vector is not None:
        builder.PrependUOffsetTRelativeSlot(6, file_vector, 0)
    return builder.EndObject()


def build(name: str, description: str, image_size: tuple[int, int],
          num_classes: int, version: str) -> bytes:  # fmt: skip
    """The `ModelMetadata` flatbuffer of an image classifier (see the module docstring)."""
    builder = flatbuffers.Builder(1024)
    labels = _associated_file(
        builder, LABELS, f"{num_classes} class names, one a line, in output order",
        _TENSOR_AXIS_LABELS,
    )  # fmt: skip
    image = _tensor(
        builder, "image",
        f"RGB image {image_size[0]}x{image_size[1]}, pixel values 0-255 (the model "
        "normalizes inside)",
        _image_content(builder, image_size), _normalization(builder),
    )  # fmt: skip
    builder.StartObject(0)  # FeatureProperties
    feature = builder.EndObject()
    probabilities = _tensor(
        builder, "probability", "class probabilities (softmax), column i is line i "
        f"of {LABELS}", _content(builder, _FEATURE_PROPERTIES, feature), files=[labels],
    )  # fmt: skip
    inputs, outputs = _vector(builder, [image]), _vector(builder, [probabilities])
    builder.StartObject(7)  # SubGraphMetadata
    builder.PrependUOffsetTRelativeSlot(2, inputs, 0)
    builder.PrependUOffsetTRelativeSlot(3, outputs, 0)
    subgraph = builder.EndObject()
    subgraphs = _vector(builder, [subgraph])
    info = _associated_file(builder, INFO, "class names and input contract "
                            "(keras-transfer)", _DESCRIPTIONS)  # fmt: skip
    model_files = _vector(builder, [info])
    text = _strings(builder, name=name, description=description, version=version,
                    author="keras-transfer", parser=PARSER_VERSION)  # fmt: skip
    builder.StartObject(8)  # ModelMetadata
    builder.PrependUOffsetTRelativeSlot(0, text["name"], 0)
    builder.PrependUOffsetTRelativeSlot(1, text["description"], 0)
    builder.PrependUOffsetTRelativeSlot(2, text["version"], 0)
    builder.PrependUOffsetTRelativeSlot(3, subgraphs, 0)
    builder.PrependUOffsetTRelativeSlot(4, text["author"], 0)
    builder.PrependUOffsetTRelativeSlot(6, model_files, 0)
    builder.PrependUOffsetTRelativeSlot(7, text["parser"], 0)
    builder.Finish(builder.EndObject(), file_identifier=IDENTIFIER)
    return bytes(builder.Output())


def populate(tflite: bytes, metadata: bytes, files: dict[str, bytes]) -> bytes:
    """`tflite` with `metadata` as `TFLITE_METADATA` and `files` zipped at its end."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(tflite))
    model.metadata = [m for m in (model.metadata or []) if _name(m) != METADATA_NAME]
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(metadata, np.uint8)
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name = METADATA_NAME
    entry.buffer = len(model.buffers) - 1
    model.metadata.append(entry)
    packed = io.BytesIO(flatbuffer_utils.convert_object_to_bytearray(model))
    packed.seek(0, io.SEEK_END)
    # Mode "a" on bytes that are not a zip appends a new archive after them.
    with zipfile.ZipFile(packed, "a", compression=zipfile.ZIP_STORED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return packed.getvalue()


def _name(entry: object) -> str:
    name = entry.name
    return name.decode() if isinstance(name, bytes) else str(name)


def _table(data: bytes, position: int) -> flatbuffers.table.Table:
    return flatbuffers.table.Table(bytearray(data), position)


def _field(table: flatbuffers.table.Table, slot: int) -> int:
    """The absolute position of field `slot`'s value, or 0 when it is absent."""
    offset = table.Offset(4 + 2 * slot)
    return table.Pos + offset if offset else 0


def _children(table: flatbuffers.table.Table, slot: int) -> list:
    position = _field(table, slot)
    if not position:
        return []
    start, count = (
        table.Vector(position - table.Pos),
        table.VectorLen(position - table.Pos),
    )
    return [flatbuffers.table.Table(table.Bytes, table.Indirect(start + 4 * i))
            for i in range(count)]  # fmt: skip


def _string(table: flatbuffers.table.Table, slot: int) -> str | None:
    position = _field(table, slot)
    return table.String(position).decode() if position else None


def read(path: str) -> dict:
    """`{"metadata": bool, "labels_file": name or None, "files": {name: bytes}}`.

    `labels_file` is the output tensor's `TENSOR_AXIS_LABELS` file named by
    the `TFLITE_METADATA` flatbuffer; `files` are the zipped associated files.
    """
    from tensorflow.lite.python import schema_py_generated as schema

    with open(path, "rb") as handle:
        data = handle.read()
    model = schema.Model.GetRootAsModel(data, 0)
    labels_file, found = None, False
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        if entry.Name().decode() != METADATA_NAME:
            continue
        found = True
        raw = model.Buffers(entry.Buffer()).DataAsNumpy().tobytes()
        if raw[4:8] != IDENTIFIER:
            raise ValueError(
                f"{path}: TFLITE_METADATA is not a M001 ModelMetadata buffer"
            )
        root = _table(raw, flatbuffers.encode.Get(flatbuffers.packer.uoffset, raw, 0))
        for subgraph in _children(root, 3)[:1]:
            for tensor in _children(subgraph, 3)[:1]:
                for item in _children(tensor, 6):
                    kind = _field(item, 2)
                    if kind and item.Get(flatbuffers.number_types.Int8Flags, kind) == \
                            _TENSOR_AXIS_LABELS:  # fmt: skip
                        labels_file = _string(item, 0)
    files = {}
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            files = {name: archive.read(name) for name in archive.namelist()}
    return {"metadata": found, "labels_file": labels_file, "files": files}


def info_of(files: dict[str, bytes]) -> dict | None:
    """The `keras_transfer.json` among the zipped files, parsed, if any."""
    return json.loads(files[INFO]) if INFO in files else None
