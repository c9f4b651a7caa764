"""Private: what accelerator the active Keras backend runs on, and the tf.data options that follow."""

from __future__ import annotations

import os

import keras

# The vector extensions that decide whether bfloat16 and XLA pay on a CPU.
CPU_EXTENSIONS = ("avx2", "avx512f", "avx512_bf16", "amx")


def describe_cpu(cpuinfo: str = "/proc/cpuinfo") -> dict:
    """Returns {"model", "extensions"}: the CPU's model name and vector extensions.

    `extensions` lists those of `CPU_EXTENSIONS` the CPU has, from the
    `flags` line of `/proc/cpuinfo` (`"amx"` for any `amx_*` flag); an empty
    list where that file does not exist (macOS, Windows).
    """
    name, flags = None, set()
    try:
        with open(cpuinfo) as handle:
            for line in handle:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and name is None:
                    name = value.strip()
                elif key == "flags" and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    if name is None:
        import platform

        name = platform.processor() or "unknown CPU"
    if any(flag.startswith("amx") for flag in flags):
        flags.add("amx")
    return {"model": name, "extensions": [e for e in CPU_EXTENSIONS if e in flags]}


# The backends Keras 3 can run on (`KERAS_BACKEND`).
BACKENDS = ("tensorflow", "jax", "torch", "numpy", "openvino")


def backend_is(*names: str) -> bool:
    """True when Keras runs on one of `names`: the one backend check of the package.

    Args:
        *names: backend names, from `BACKENDS`.

    Raises:
        ValueError: for a name that is not a Keras backend (a typo would
            otherwise make the check silently false).
    """
    unknown = [name for name in names if name not in BACKENDS]
    if not names or unknown:
        raise ValueError(
            f"`names` must be Keras backends, one or more of {BACKENDS}. "
            f"Received: names={names!r}"
        )
    return keras.backend.backend() in names


def tensorflow_backend() -> bool:
    """True when Keras runs on TensorFlow (`backend_is("tensorflow")`)."""
    return backend_is("tensorflow")


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
    """Returns {"kind", "name", "compute_capability", "cpu_count", "cpu", "backend"}.

    `kind` is "gpu", "tpu" or "cpu" for the first device of the active backend;
    `compute_capability` is `(major, minor)` for NVIDIA GPUs, else None; `cpu`
    is `describe_cpu()` (the host CPU, also when an accelerator trains).
    """
    backend = keras.backend.backend()
    cpu = describe_cpu()
    info = {
        "kind": "cpu",
        "name": cpu["model"],
        "compute_capability": None,
        "cpu_count": os.cpu_count(),
        "cpu": cpu,
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
