"""Private: what accelerator the active Keras backend runs on, and the tf.data options that follow."""

from __future__ import annotations

import os

import keras


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "unknown CPU"


def _parse_capability(value: object) -> tuple[int, int] | None:
    if value is None:
        return None
    if isinstance(value, tuple | list):
        return int(value[0]), int(value[1])
    text = str(value)
    if "." in text:
        major, minor = text.split(".", 1)
        return int(major), int(minor)
    return None


def describe_device() -> dict:
    """Returns {"kind", "name", "compute_capability", "cpu_count", "backend"}.

    `kind` is "gpu", "tpu" or "cpu" for the first device of the active backend;
    `compute_capability` is `(major, minor)` for NVIDIA GPUs, else None.
    """
    backend = keras.backend.backend()
    info = {
        "kind": "cpu",
        "name": _cpu_name(),
        "compute_capability": None,
        "cpu_count": os.cpu_count(),
        "backend": backend,
    }
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            details = tf.config.experimental.get_device_details(gpus[0])
            info["kind"] = "gpu"
            info["name"] = details.get("device_name", gpus[0].name)
            info["compute_capability"] = _parse_capability(
                details.get("compute_capability")
            )
        elif tf.config.list_physical_devices("TPU"):
            info["kind"], info["name"] = "tpu", "TPU"
    elif backend == "jax":
        import jax

        device = jax.devices()[0]
        if device.platform in ("gpu", "cuda", "rocm"):
            info["kind"] = "gpu"
            info["name"] = getattr(device, "device_kind", str(device))
            info["compute_capability"] = _parse_capability(
                getattr(device, "compute_capability", None)
            )
        elif device.platform == "tpu":
            info["kind"], info["name"] = "tpu", getattr(device, "device_kind", "TPU")
    elif backend == "torch":
        import torch

        if torch.cuda.is_available():
            info["kind"] = "gpu"
            info["name"] = torch.cuda.get_device_name(0)
            info["compute_capability"] = tuple(torch.cuda.get_device_capability(0))
    return info


def host_data_options(data_autotune: bool | None = None) -> object:
    """`tf.data.Options` for a pipeline that feeds training on this host.

    `data_autotune=None` turns tf.data's autotuner off when the model trains
    on the CPU: there the pipeline shares the cores with the training step,
    and with the autotuner on, a 2-core machine ran 9 of 16 epochs of a small
    convnet on about one core, at 5.1 s against 3.0 s
    (`benchmarks/data_autotune.py`). With an accelerator the host only feeds,
    so it stays on.
    """
    import tensorflow as tf

    if data_autotune is None:
        data_autotune = describe_device()["kind"] != "cpu"
    options = tf.data.Options()
    options.autotune.enabled = bool(data_autotune)
    return options
