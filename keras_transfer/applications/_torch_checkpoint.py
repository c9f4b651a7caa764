"""Reads a PyTorch state-dict checkpoint (`.pth`) into NumPy, without torch.

A `.pth` file is a pickle, and unpickling runs whatever the file names. This
reader accepts only the globals a plain state dict needs (an `OrderedDict` of
tensors rebuilt from typed storages) and refuses anything else before it is
called. Both PyTorch layouts are read: the zip archive (`archive/data.pkl`
plus one file per storage, PyTorch >= 1.6) and the legacy stream (magic
number, protocol version, system info, the pickle, its storage keys, then the
storages back to back).
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import struct
import zipfile

import numpy as np

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C

# torch storage class -> NumPy dtype of its elements.
_STORAGE_DTYPES = {
    "DoubleStorage": np.float64,
    "FloatStorage": np.float32,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class _StorageType:
    """Stands in for `torch.FloatStorage` etc. while unpickling."""

    def __init__(self, name: str) -> None:
        self.dtype = np.dtype(_STORAGE_DTYPES[name])


class _Tensor:
    """A tensor to be read once the storages are known."""

    def __init__(self, storage: tuple, offset: int, size: tuple, stride: tuple) -> None:
        self.storage, self.offset = storage, offset
        self.size, self.stride = tuple(size), tuple(stride)

    def to_numpy(self, storages: dict[str, np.ndarray]) -> np.ndarray:
        _, storage_type, key, _, _ = self.storage[:5]
        flat = storages[key]
        if flat.dtype != storage_type.dtype:
            flat = flat.view(storage_type.dtype)
        if not self.size:  # a scalar
            return np.array(flat[self.offset])
        item = flat.itemsize
        view = np.lib.stride_tricks.as_strided(
            flat[self.offset :],
            shape=self.size,
            strides=tuple(s * item for s in self.stride),
            writeable=False,
        )
        return np.ascontiguousarray(view)  # a copy, independent of the file


def _rebuild_tensor_v2(
    storage: tuple,
    storage_offset: int,
    size: tuple,
    stride: tuple,
    requires_grad: bool = False,
    backward_hooks: object = None,
    metadata: object = None,
) -> _Tensor:
    return _Tensor(storage, storage_offset, size, stride)


def _rebuild_parameter(
    data: _Tensor, requires_grad: bool = False, backward_hooks: object = None
) -> _Tensor:
    return data


_ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
}
_ALLOWED.update({("torch", name): _StorageType(name) for name in _STORAGE_DTYPES})


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint's pickle names something a state dict of tensors never needs."""


class _StateDictUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals of a tensor state dict."""

    def __init__(self, file: io.BufferedIOBase, path: str) -> None:
        super().__init__(file)
        self._path = path

    def find_class(self, module: str, name: str) -> object:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            allowed = ", ".join(f"{m}.{n}" for m, n in _ALLOWED)
            raise UnsafeCheckpointError(
                f"Refusing to load `path`: its pickle asks for the global "
                f"`{module}.{name}`, which a tensor state dict does not need (a "
                "pickle that names arbitrary globals can run code). Only a "
                "PyTorch state dict of tensors can be read, as saved by "
                "`torch.save(model.state_dict(), path)`. Allowed globals: "
                f"{allowed}. Received: path={self._path!r}"
            ) from None

    def persistent_load(self, pid: object) -> tuple:
        if (
            not isinstance(pid, tuple)
            or len(pid) < 5
            or pid[0] != "storage"
            or not isinstance(pid[1], _StorageType)
        ):
            raise UnsafeCheckpointError(
                "Refusing to load `path`: it references an object that is not a "
                f"tensor storage ({pid!r}). Received: path={self._path!r}"
            )
        return pid


def load_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Reads a PyTorch state dict of tensors as NumPy arrays, torch not needed.

    Args:
        path: a `.pth` / `.pt` file written by `torch.save(state_dict, path)`,
            in the zip or the legacy layout.

    Returns:
        A dict `{name: np.ndarray}` in the file's order, each array
        contiguous, with the tensor's shape and dtype.

    Raises:
        UnsafeCheckpointError: (a `pickle.UnpicklingError`) if the pickle names
            any global outside those a state dict of tensors needs; nothing it
            names is called.
        ValueError: if the file is not a PyTorch checkpoint or does not hold a
            dict of tensors.
    """
    path = os.fspath(path)
    if zipfile.is_zipfile(path):
        state, storages = _read_zip(path)
    else:
        state, storages = _read_legacy(path)
    if not isinstance(state, dict) or not all(
        isinstance(v, _Tensor) for v in state.values()
    ):
        raise ValueError(
            "`path` does not hold a state dict of tensors (a dict "
            "{name: tensor}); save one with `torch.save(model.state_dict(), path)`. "
            f"Received: path={path!r} holding {type(state).__name__}"
        )
    return {name: tensor.to_numpy(storages) for name, tensor in state.items()}


def _read_zip(path: str) -> tuple[object, dict[str, np.ndarray]]:
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pickles = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pickles) != 1:
            raise ValueError(
                "`path` is a zip file but not a PyTorch checkpoint (no single "
                f"`data.pkl` inside). Received: path={path!r}"
            )
        prefix = pickles[0][: -len("data.pkl")]
        unpickler = _StateDictUnpickler(io.BytesIO(archive.read(pickles[0])), path)
        state = unpickler.load()
        storages = {}
        for tensor in _tensors(state):
            _, storage_type, key, _, _ = tensor.storage[:5]
            if key not in storages:
                raw = archive.read(f"{prefix}data/{key}")
                storages[key] = np.frombuffer(raw, dtype=storage_type.dtype)
    return state, storages


def _read_legacy(path: str) -> tuple[object, dict[str, np.ndarray]]:
    with open(path, "rb") as file:
        try:
            magic = _StateDictUnpickler(file, path).load()
        except UnsafeCheckpointError:
            raise
        except (pickle.UnpicklingError, EOFError, ValueError, IndexError):
            magic = None
        if magic != _LEGACY_MAGIC:
            raise ValueError(
                "`path` is not a PyTorch checkpoint (neither a zip archive nor "
                f"the legacy format's magic number). Received: path={path!r}"
            )
        _StateDictUnpickler(file, path).load()  # protocol version
        info = _StateDictUnpickler(file, path).load()
        if not info.get("little_endian", True):
            raise ValueError(
                "`path` was saved on a big-endian machine; only little-endian "
                f"checkpoints are read. Received: path={path!r}"
            )
        state = _StateDictUnpickler(file, path).load()
        keys = _StateDictUnpickler(file, path).load()
        dtypes = {}
        for tensor in _tensors(state):
            dtypes[tensor.storage[2]] = tensor.storage[1].dtype
        storages = {}
        for key in keys:
            (count,) = struct.unpack("<q", file.read(8))
            dtype = np.dtype(dtypes.get(key, np.uint8))
            storages[key] = np.frombuffer(file.read(count * dtype.itemsize), dtype)
    return state, storages


def _tensors(state: object) -> list[_Tensor]:
    if isinstance(state, dict):
        return [v for v in state.values() if isinstance(v, _Tensor)]
    return []
