"""Private: `autotune` results on disk, keyed by everything that changes the winner.

A result measured for one model, input shape and batch size on one device
(and, on a CPU, one CPU model with its vector extensions), one backend and one
set of library versions is reused only for exactly that. Files are small JSON,
one per key, under `cache_dir` (default: `$KERAS_TRANSFER_CACHE/autotune`,
else `~/.cache/keras-transfer/autotune`).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile

import keras

from keras_transfer._layers import walk
from keras_transfer.version import __version__

_BACKEND_MODULES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}


def default_dir() -> str:
    root = os.environ.get("KERAS_TRANSFER_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "keras-transfer"
    )
    return os.path.join(root, "autotune")


def architecture_signature(model: keras.Model) -> str:
    """A hash of the layer types, weight shapes and trainable flags, in order.

    Two builds of the same architecture get the same signature whatever
    their auto-generated layer names or the dtype policy they were built
    under; freezing a part changes it (a frozen backbone trains faster, and
    maybe best with another configuration).
    """
    parts = [
        [
            type(layer).__name__,
            [[list(w.shape), bool(w.trainable)] for w in layer.weights],
        ]
        for layer in walk(model)
        if not isinstance(layer, keras.Model)
    ]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]


def cache_key(
    device: dict, model: keras.Model, input_shape: tuple, batch_size: int
) -> dict:
    """Every field the measured winner depends on."""
    backend = keras.backend.backend()
    module = sys.modules.get(_BACKEND_MODULES.get(backend, ""), None)
    cpu = device.get("cpu") or {}
    return {
        "device": device["kind"],
        "device_name": device["name"],
        "compute_capability": list(device["compute_capability"] or []) or None,
        "cpu_model": cpu.get("model"),
        "cpu_extensions": list(cpu.get("extensions", [])),
        "backend": backend,
        "versions": {
            "keras": keras.__version__,
            backend: getattr(module, "__version__", None),
            "keras_transfer": __version__,
        },
        "model": architecture_signature(model),
        "input_shape": [None if d is None else int(d) for d in input_shape],
        "batch_size": int(batch_size),
    }


def _path(key: dict, cache_dir: str | None) -> str:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    return os.path.join(cache_dir or default_dir(), f"{digest}.json")


def load(key: dict, cache_dir: str | None) -> tuple[dict | None, str]:
    """`(entry, path)`: the entry stored for exactly `key`, else `(None, path)`."""
    path = _path(key, cache_dir)
    try:
        with open(path) as handle:
            entry = json.load(handle)
    except (OSError, ValueError):
        return None, path
    return (entry if entry.get("key") == key else None), path


def store(key: dict, entry: dict, cache_dir: str | None) -> str:
    """Writes `entry` (with `key`) atomically; returns the path."""
    path = _path(key, cache_dir)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
    with os.fdopen(handle, "w") as out:
        json.dump({**entry, "key": key}, out, indent=1, sort_keys=True)
    os.replace(temporary, path)
    return path
