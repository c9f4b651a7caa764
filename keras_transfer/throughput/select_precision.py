"""`select_precision`: an explicit or per-device ("auto") precision and XLA choice."""

from __future__ import annotations

import keras

from keras_transfer._device import describe_device
from keras_transfer.throughput.precision_choice import PrecisionChoice

_POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")

_CPU_REASON = (
    "CPU: measured on a 2-core AVX-512 CPU (TF 2.21, Keras 3.15), XLA made "
    "convnet training 3-8x slower (MobileNetV2 56 -> 7 img/s) and mixed_bfloat16 "
    "alone halved ResNet50 (16 -> 9.3 img/s), so float32"
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
) -> PrecisionChoice:
    """Chooses a dtype policy and `jit_compile`, explicitly or per device.

    `"auto"` decides from the device the active backend runs on: NVIDIA compute
    capability >= 8 (A100, H100, RTX 30xx/40xx) -> `"mixed_bfloat16"`; 7.x
    (V100, T4) -> `"mixed_float16"` (Keras adds loss scaling at `compile`);
    CPU -> `"float32"`, which measured fastest for convnets on this project's
    CPUs. `jit_compile="auto"` is True on accelerators and on the JAX backend
    (where `False` means eager), False for TensorFlow on CPU (measured slower).
    For a measured answer on your own model use `autotune`.

    Args:
        precision: `"auto"`, `"float32"`, `"mixed_float16"` or
            `"mixed_bfloat16"`. Defaults to `"auto"`.
        jit_compile: `"auto"` or a bool. Defaults to `"auto"`.
        steps_per_execution: train steps per compiled call (>= 1). Defaults
            to `1`.

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
    device = describe_device()
    backend = keras.backend.backend()
    reasons = []
    if precision == "auto":
        policy, why = _auto_policy(device)
        reasons.append(f"precision auto -> {policy} ({why})")
    else:
        policy = precision
        reasons.append(f"precision {policy} (explicit)")
    if jit_compile == "auto":
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
