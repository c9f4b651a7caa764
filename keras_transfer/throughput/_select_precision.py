"""`select_precision`: an explicit or per-device ("auto") precision and XLA choice."""

from __future__ import annotations

import keras

from keras_transfer._device import describe_device
from keras_transfer.throughput import _tuning_cache
from keras_transfer.throughput.precision_choice import PrecisionChoice

_POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")

_CPU_REASON = (
    "CPU: float32, Keras's default; bfloat16 and XLA measured faster for some "
    "models on some CPUs (AVX-512 with bf16) and slower on others, so only a "
    "measurement picks them: `autotune`, then `select_precision(model=...)`"
)


def _auto_policy(device: dict) -> tuple[str, str]:
    capability = device["compute_capability"]
    if device["kind"] == "tpu":
        return "mixed_bfloat16", "TPU: bfloat16 is native"
    if device["kind"] == "gpu" and capability is not None:
        if capability >= (8, 0):
            return "mixed_bfloat16", (
                f"NVIDIA compute capability {capability[0]}.{capability[1]} >= 8.0: "
                "bfloat16 tensor cores, no loss scaling needed"
            )
        if capability >= (7, 0):
            return "mixed_float16", (
                f"NVIDIA compute capability {capability[0]}.{capability[1]}: float16 "
                "tensor cores; Keras adds loss scaling (LossScaleOptimizer) at compile"
            )
        return "float32", (
            f"NVIDIA compute capability {capability[0]}.{capability[1]} < 7.0: "
            "no tensor cores"
        )
    if device["kind"] == "gpu":
        return "float32", "GPU of unknown compute capability: float32 is safe"
    return "float32", _CPU_REASON


def _auto_jit(device: dict, backend: str) -> tuple[bool, str]:
    if backend == "jax":
        return True, "JAX backend: always XLA (jit_compile=False runs op by op)"
    if backend == "torch":
        return False, "torch backend: jit_compile means torch.compile; off by default"
    if device["kind"] == "cpu":
        return False, "TensorFlow on CPU: XLA measured slower for convnets"
    return True, "accelerator: XLA fuses the mixed-precision casts"


def select_precision(
    precision: str = "auto",
    jit_compile: bool | str = "auto",
    steps_per_execution: int = 1,
    *,
    model: keras.Model | None = None,
    input_shape: tuple | None = None,
    batch_size: int = 32,
    cache_dir: str | None = None,
) -> PrecisionChoice:
    """Chooses a dtype policy and `jit_compile`: explicitly, measured, or per device.

    With `model`, `"auto"` is the configuration `autotune` measured fastest
    for that architecture, input shape and batch size on this device, CPU
    (model name and vector extensions: avx2, avx512f, avx512_bf16, amx),
    backend and library versions, when such a result is cached on disk
    (`autotune` stores one). Whether bfloat16 and XLA pay on a CPU depends on
    the CPU and the model, so only a measurement decides there.

    Without `model`, or when nothing is cached for it (the reason says so),
    `"auto"` decides from the device class: NVIDIA compute capability >= 8
    (A100, H100, RTX 30xx/40xx) -> `"mixed_bfloat16"`; 7.x (V100, T4) ->
    `"mixed_float16"` (Keras adds loss scaling at `compile`); CPU ->
    `"float32"`, Keras's own default. `jit_compile="auto"` is True on
    accelerators and on the JAX backend (where `False` means eager), False
    for TensorFlow on CPU.

    Args:
        precision: `"auto"`, `"float32"`, `"mixed_float16"` or
            `"mixed_bfloat16"`. Defaults to `"auto"`.
        jit_compile: `"auto"` or a bool. Defaults to `"auto"`.
        steps_per_execution: train steps per compiled call (>= 1). Defaults
            to `1`.
        model: a built model of the architecture to train (under any dtype
            policy): `"auto"` then uses a cached `autotune` result for it.
            Defaults to `None` (the device-class rule).
        input_shape: one sample's shape, as `autotune` saw it. Defaults to
            `None` (`model.input_shape` without the batch dimension).
        batch_size: the training batch size, as given to `autotune`.
            Defaults to `32`.
        cache_dir: where `autotune` stored its results. Defaults to `None`
            (`$KERAS_TRANSFER_CACHE/autotune`, else
            `~/.cache/keras-transfer/autotune`).

    Returns:
        A `PrecisionChoice` with the policy, `jit_compile`,
        `steps_per_execution`, the device and the reason.

    Example:

    >>> from keras_transfer.throughput import select_precision
    >>> choice = select_precision("float32", jit_compile=False)
    >>> (choice.policy, choice.jit_compile, choice.steps_per_execution)
    ('float32', False, 1)
    >>> select_precision("auto").policy in ("float32", "mixed_float16", "mixed_bfloat16")
    True
    """
    if precision != "auto" and precision not in _POLICIES:
        raise ValueError(
            f"`precision` must be 'auto' or one of {list(_POLICIES)}. "
            f"Received: precision={precision!r}"
        )
    if not (jit_compile == "auto" or isinstance(jit_compile, bool)):
        raise ValueError(
            "`jit_compile` must be 'auto', True or False. "
            f"Received: jit_compile={jit_compile!r}"
        )
    if (
        isinstance(steps_per_execution, bool)
        or not isinstance(steps_per_execution, int)
        or steps_per_execution < 1
    ):
        raise ValueError(
            "`steps_per_execution` must be an integer >= 1. "
            f"Received: steps_per_execution={steps_per_execution!r}"
        )
    if model is not None and not isinstance(model, keras.Model):
        raise TypeError(
            "`model` must be a built keras.Model (the architecture `autotune` "
            f"measured) or None. Received: model={model!r}"
        )
    device = describe_device()
    backend = keras.backend.backend()
    reasons = []
    measured, missing = None, None
    if model is not None and "auto" in (precision, jit_compile):
        measured, missing = _measured(device, model, input_shape, batch_size, cache_dir)
    if precision == "auto" and measured is not None:
        policy = measured["policy"]
        reasons.append(f"precision auto -> {policy} ({measured['reason']})")
    elif precision == "auto":
        policy, why = _auto_policy(device)
        reasons.append(f"precision auto -> {policy} ({why}{missing or ''})")
    else:
        policy = precision
        reasons.append(f"precision {policy} (explicit)")
    if jit_compile == "auto" and measured is not None:
        jit = bool(measured["jit_compile"])
        reasons.append(f"jit_compile auto -> {jit} (measured, as above)")
    elif jit_compile == "auto":
        jit, why = _auto_jit(device, backend)
        reasons.append(f"jit_compile auto -> {jit} ({why})")
    else:
        jit = jit_compile
        reasons.append(f"jit_compile {jit} (explicit)")
    return PrecisionChoice(
        policy=policy,
        jit_compile=jit,
        steps_per_execution=steps_per_execution,
        reason="; ".join(reasons),
        device=f"{device['kind']}: {device['name']} ({backend} backend)",
    )


def _measured(
    device: dict,
    model: keras.Model,
    input_shape: tuple | None,
    batch_size: int,
    cache_dir: str | None,
) -> tuple[dict | None, str | None]:
    """`(best, None)` from the autotune cache, else `(None, why not)`."""
    if input_shape is None:
        input_shape = tuple(model.input_shape[1:])
    key = _tuning_cache.cache_key(device, model, input_shape, batch_size)
    entry, path = _tuning_cache.load(key, cache_dir)
    if entry is None:
        return None, (
            f"; no autotune result cached for this model, input shape "
            f"{tuple(key['input_shape'])} and batch size {batch_size} on this "
            f"device, CPU, backend and versions ({path}): "
            "`autotune(build_model, x, y, batch_size=...)` measures and caches one"
        )
    return entry["best"], None
