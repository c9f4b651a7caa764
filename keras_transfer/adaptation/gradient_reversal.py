"""`GradientReversal`: the DANN gradient-reversal layer with its in-graph schedule."""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import ops

from keras_transfer._validate import check_int


@keras.saving.register_keras_serializable(package="keras_transfer")
class GradientReversal(keras.layers.Layer):
    """Identity forward, gradient multiplied by `-lambda` backward (DANN).

    Ganin & Lempitsky (2015) put this layer between a feature extractor and a
    domain classifier: the classifier learns to tell source from target while
    the features learn to fool it. `lambda` follows the paper's schedule

        lambda = max_lambda * (2 / (1 + exp(-gamma * p)) - 1),
        p = min(step / schedule_steps, 1),

    computed inside the graph from `step`, a non-trainable counter variable of
    this layer that every training call increments (so no callback is needed,
    it works under `jit_compile`, and it is saved with the model). With
    `schedule_steps=None`, `lambda` is `max_lambda` from the first step.

    The forward pass is exactly the identity
    (`stop_gradient(x) + (r - stop_gradient(r))`
    with `r = -lambda * x`), so it is backend-agnostic and mixed-precision safe.

    Args:
        max_lambda: the final (largest) reversal strength. Defaults to `1.0`.
        schedule_steps: training steps over which `lambda` ramps from 0 to
            `max_lambda` (the paper's `p` is `step / schedule_steps`), usually
            `epochs * steps_per_epoch`. Defaults to `None` (no ramp).
        gamma: steepness of the ramp. Defaults to `10.0` (the paper's value).
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        inputs: a tensor (or any structure of tensors).
        training: the counter advances only when `True`.

    Example:

    >>> import keras, numpy as np
    >>> from keras_transfer.adaptation import GradientReversal
    >>> layer = GradientReversal(schedule_steps=100)
    >>> x = np.ones((2, 3), "float32")
    >>> bool(np.all(np.asarray(layer(x)) == x))
    True
    >>> round(float(layer.current_lambda()), 4)  # step 0: no reversal yet
    0.0
    """

    def __init__(
        self,
        max_lambda: float = 1.0,
        schedule_steps: int | None = None,
        gamma: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(max_lambda, (int, float)) or max_lambda < 0:
            raise ValueError(
                "`max_lambda` must be a number >= 0. "
                f"Received: max_lambda={max_lambda!r}"
            )
        check_int(
            "schedule_steps",
            schedule_steps,
            1,
            allow_none=True,
            hint="e.g. epochs * steps_per_epoch; None: a constant lambda",
        )
        if not isinstance(gamma, (int, float)) or gamma <= 0 or math.isnan(gamma):
            raise ValueError(f"`gamma` must be a number > 0. Received: gamma={gamma!r}")
        self.max_lambda = float(max_lambda)
        self.schedule_steps = schedule_steps
        self.gamma = float(gamma)
        self.supports_masking = True
        self.step = self.add_weight(
            shape=(),
            dtype="int32",
            initializer="zeros",
            trainable=False,
            name="step",
            aggregation="only_first_replica",
        )

    def current_lambda(self) -> Any:
        """The reversal strength at the current `step` (a float32 scalar tensor)."""
        return self._lambda_at(self.step)

    def _lambda_at(self, step: Any) -> Any:
        if self.schedule_steps is None:
            return ops.convert_to_tensor(self.max_lambda, "float32")
        p = ops.minimum(ops.cast(step, "float32") / float(self.schedule_steps), 1.0)
        ramp = 2.0 / (1.0 + ops.exp(-self.gamma * p)) - 1.0
        return self.max_lambda * ramp

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        if training:
            # Count first, then read back the step this call trains at: under
            # torch.compile a read placed before the increment saw the
            # incremented value (lambda one step ahead); a read after it is
            # ordered the same way on every backend and compiler.
            self.step.assign_add(ops.ones((), "int32"))
            lam = self._lambda_at(ops.convert_to_tensor(self.step) - 1)
        else:
            lam = self._lambda_at(self.step)

        def reverse(x: Any) -> Any:
            r = -ops.cast(lam, x.dtype) * x
            return ops.stop_gradient(x) + (r - ops.stop_gradient(r))

        return keras.tree.map_structure(reverse, inputs)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "max_lambda": self.max_lambda,
                "schedule_steps": self.schedule_steps,
                "gamma": self.gamma,
            }
        )
        return config
