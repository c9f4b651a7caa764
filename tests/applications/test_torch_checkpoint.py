"""The torch-free, restricted `.pth` reader: both layouts, strides, refusals."""

import collections
import io
import os
import pickle
import struct
import sys
import types
import zipfile

import numpy as np
import pytest

from keras_transfer.applications import _torch_checkpoint
from keras_transfer.applications._torch_checkpoint import (
    UnsafeCheckpointError,
    load_state_dict,
)


class _Storage:
    def __init__(self, key, array):
        self.key, self.array = key, np.ascontiguousarray(array).ravel()


class _Tensor:
    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, tuple(size), tuple(stride))

    def __reduce__(self):
        return sys.modules["torch._utils"]._rebuild_tensor_v2, (
            *self.args,
            False,
            collections.OrderedDict(),
        )


@pytest.fixture
def fake_torch(monkeypatch):
    """Importable stand-ins so pickle writes `torch.*` globals, as torch does."""
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")
    for name in ("FloatStorage", "LongStorage"):
        cls = type(name, (), {"__module__": "torch", "__qualname__": name})
        setattr(torch, name, cls)

    def _rebuild_tensor_v2(*args):
        raise AssertionError("never called when writing")

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)
    return torch


def _state(fake_torch):
    """Three tensors: a transposed (non-contiguous) view, an offset, an int."""
    base = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    weight = _Storage("0", base)
    # the (4, 3, 2) transpose of `base`, as torch strides it: (1, 4, 12)
    transposed = _Tensor(weight, 0, (4, 3, 2), (1, 4, 12))
    bias = _Storage("1", np.array([9.0, 8.0, 7.0, 6.0], np.float32))
    tail = _Tensor(bias, 2, (2,), (1,))
    count = _Tensor(_Storage("2", np.array([5], np.int64)), 0, (), ())
    state = collections.OrderedDict(w=transposed, b=tail, n=count)
    expected = {"w": base.transpose(2, 1, 0), "b": np.array([7.0, 6.0]), "n": 5}
    return state, expected


def _pickle(state, fake_torch):
    storages = {}

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, _Storage):
                storages[obj.key] = obj.array
                kind = "LongStorage" if obj.array.dtype == np.int64 else "FloatStorage"
                return (
                    "storage",
                    getattr(fake_torch, kind),
                    obj.key,
                    "cpu",
                    obj.array.size,
                )
            return None

    buffer = io.BytesIO()
    Pickler(buffer, protocol=2).dump(state)
    return buffer.getvalue(), storages


def _write_zip(path, state, fake_torch):
    data, storages = _pickle(state, fake_torch)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", data)
        for key, array in storages.items():
            archive.writestr(f"archive/data/{key}", array.tobytes())


def _write_legacy(path, state, fake_torch):
    data, storages = _pickle(state, fake_torch)
    with open(path, "wb") as file:
        for header in (
            _torch_checkpoint._LEGACY_MAGIC,
            1001,
            {"protocol_version": 1001, "little_endian": True},
        ):
            pickle.dump(header, file, protocol=2)
        file.write(data)
        pickle.dump(sorted(storages), file, protocol=2)
        for key in sorted(storages):
            file.write(struct.pack("<q", storages[key].size))
            file.write(storages[key].tobytes())


@pytest.mark.parametrize("write", [_write_zip, _write_legacy], ids=["zip", "legacy"])
def test_reads_both_layouts_with_strides_and_offsets(tmp_path, fake_torch, write):
    state, expected = _state(fake_torch)
    path = tmp_path / "state.pth"
    write(path, state, fake_torch)
    loaded = load_state_dict(path)
    assert list(loaded) == ["w", "b", "n"]
    np.testing.assert_array_equal(loaded["w"], expected["w"])
    assert loaded["w"].flags.c_contiguous and loaded["w"].dtype == np.float32
    np.testing.assert_array_equal(loaded["b"], expected["b"])
    assert loaded["n"].dtype == np.int64 and loaded["n"].shape == ()
    assert int(loaded["n"]) == 5


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("layout", ["zip", "legacy"])
def test_refuses_a_pickle_that_would_run_code(tmp_path, layout):
    marker = tmp_path / "code_ran"
    payload = pickle.dumps({"w": _RunsCode(marker)}, protocol=2)
    assert b"system" in payload  # the payload does name os.system
    path = tmp_path / "evil.pth"
    if layout == "zip":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("archive/data.pkl", payload)
    else:
        with open(path, "wb") as file:
            for header in (_torch_checkpoint._LEGACY_MAGIC, 1001, {}):
                pickle.dump(header, file, protocol=2)
            file.write(payload)
    with pytest.raises(UnsafeCheckpointError, match=r"global `(posix|os|nt)\.system`"):
        load_state_dict(path)
    assert not marker.exists()
    # The refusal is an UnpicklingError, as pickle's own refusals are.
    assert issubclass(UnsafeCheckpointError, pickle.UnpicklingError)


def test_refuses_a_builtin_global_in_the_first_pickle(tmp_path):
    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps(eval, protocol=2))
    with pytest.raises(UnsafeCheckpointError, match=r"builtin_*s?\.eval`"):
        load_state_dict(path)


def test_not_a_checkpoint(tmp_path):
    path = tmp_path / "plain.pth"
    path.write_bytes(b"not a pickle at all")
    with pytest.raises(ValueError, match="not a PyTorch checkpoint"):
        load_state_dict(path)


def test_a_pickle_that_is_not_a_state_dict(tmp_path):
    path = tmp_path / "list.pth"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps([1, 2], protocol=2))
    with pytest.raises(ValueError, match="state dict of tensors"):
        load_state_dict(path)
