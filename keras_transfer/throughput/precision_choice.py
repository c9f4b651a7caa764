"""`PrecisionChoice`: a dtype policy, an XLA switch and steps per execution."""

from __future__ import annotations

import dataclasses

import keras


@dataclasses.dataclass(frozen=True)
class PrecisionChoice:
    """What to train with, and why: returned by `select_precision` and `autotune`.

    Apply the policy BEFORE building the model (layers read the global dtype
    policy when they are created), then pass `compile_kwargs()` to `compile`.
    Under `"mixed_float16"` Keras wraps the optimizer in a
    `keras.optimizers.LossScaleOptimizer` at `compile()` (loss scaling);
    `"mixed_bfloat16"` needs none. Keep the output layer in float32 (give the
    last layer `dtype="float32"`); `effective_settings` checks it.

    Args:
        policy: a Keras dtype policy name, e.g. `"float32"`, `"mixed_bfloat16"`.
        jit_compile: whether `compile` should ask for XLA.
        steps_per_execution: train steps per compiled call.
        reason: why this was chosen (for logs and reports). Defaults to `""`.
        device: the device it was chosen for. Defaults to `""`.

    Example:

    >>> import keras
    >>> from keras_transfer.throughput import PrecisionChoice
    >>> choice = PrecisionChoice("float32", jit_compile=False, steps_per_execution=1)
    >>> choice.compile_kwargs()
    {'jit_compile': False, 'steps_per_execution': 1}
    >>> choice.apply().policy
    'float32'
    """

    policy: str
    jit_compile: bool
    steps_per_execution: int = 1
    reason: str = ""
    device: str = ""

    @property
    def loss_scaling(self) -> bool:
        """True when the policy needs loss scaling (float16 compute)."""
        return self.policy == "mixed_float16"

    def apply(self) -> PrecisionChoice:
        """Sets the global Keras dtype policy to `policy`; returns `self`."""
        keras.config.set_dtype_policy(self.policy)
        return self

    def compile_kwargs(self) -> dict:
        """Keyword arguments for `model.compile`: XLA and steps per execution."""
        return {
            "jit_compile": self.jit_compile,
            "steps_per_execution": self.steps_per_execution,
        }

    def to_dict(self) -> dict:
        """A plain dict (JSON-ready) of every field plus `loss_scaling`."""
        return dict(dataclasses.asdict(self), loss_scaling=self.loss_scaling)
