"""Per-variable learning rates inside any Keras optimizer's own `apply`.

Every Keras optimizer routes each variable's update through
`update_step(gradient, variable, learning_rate)` and its decoupled weight
decay through `_apply_weight_decay(variables)`, which reads
`self.learning_rate`. While `LayerwiseLR` calls the wrapped optimizer's
`apply`/`stateless_apply` (in Python, i.e. while the train step is traced),
`scaled_learning_rates` shadows those two methods on that one instance:

- `update_step` gets `learning_rate * m` (the variable is skipped when
  `m == 0`, so it and its slots stay bit-identical);
- weight decay runs per multiplier group with the optimizer's learning rate
  temporarily reading `learning_rate * m`.

Everything else (clipping, gradient accumulation, EMA, loss-scale factor,
constraints, `iterations`) is the wrapped optimizer's own code, unchanged.
The shadowing is removed on exit; the wrapped optimizer is never subclassed
and its config is untouched.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import keras


class _Scaler:
    def __init__(
        self,
        optimizer: keras.optimizers.Optimizer,
        multiplier_of: Callable[[object], float],
    ) -> None:
        self.optimizer = optimizer
        self.multiplier_of = multiplier_of
        self.update_calls = 0
        self._update_step = type(optimizer).update_step.__get__(optimizer)
        self._apply_weight_decay = type(optimizer)._apply_weight_decay.__get__(
            optimizer
        )

    def update_step(
        self, gradient: object, variable: object, learning_rate: object
    ) -> None:
        self.update_calls += 1
        m = self.multiplier_of(variable)
        if m == 0.0:
            return None
        if m != 1.0:
            learning_rate = keras.ops.multiply(learning_rate, m)
        return self._update_step(gradient, variable, learning_rate)

    def apply_weight_decay(self, variables: list) -> None:
        if self.optimizer.weight_decay is None and not _has_own_decay(self.optimizer):
            return
        by_multiplier: dict[float, list] = {}
        for variable in variables:
            by_multiplier.setdefault(self.multiplier_of(variable), []).append(variable)
        for m, group in by_multiplier.items():
            if m == 0.0:
                continue
            if m == 1.0:
                self._apply_weight_decay(group)
                continue
            with _learning_rate_times(self.optimizer, m):
                self._apply_weight_decay(group)


def _has_own_decay(optimizer: keras.optimizers.Optimizer) -> bool:
    # Muon decays its AdamW-updated variables with `adam_weight_decay`.
    return getattr(optimizer, "adam_weight_decay", None) is not None


@contextlib.contextmanager
def _learning_rate_times(
    optimizer: keras.optimizers.Optimizer, m: float
) -> Iterator[None]:
    """`optimizer.learning_rate` reads `base * m` inside the block."""
    scaled = keras.ops.multiply(optimizer.learning_rate, m)
    state = vars(optimizer)
    original = state["_learning_rate"]
    # Written to the instance dict directly: not a (trackable) attribute change.
    state["_learning_rate"] = lambda: scaled
    try:
        yield
    finally:
        state["_learning_rate"] = original


@contextlib.contextmanager
def scaled_learning_rates(
    optimizer: keras.optimizers.Optimizer, multiplier_of: Callable[[object], float]
) -> Iterator[_Scaler]:
    """Scales `optimizer`'s learning rate per variable inside the block.

    Args:
        optimizer: the wrapped (plain) Keras optimizer.
        multiplier_of: maps a variable as the optimizer sees it in
            `update_step` (a `keras.Variable`, or the backend variable on
            TensorFlow) to its multiplier.

    Yields:
        The scaler; its `update_calls` counts `update_step` calls, so the
        caller can detect an optimizer that does not use `update_step`.
    """
    scaler = _Scaler(optimizer, multiplier_of)
    state = vars(optimizer)
    if "update_step" in state or "_apply_weight_decay" in state:
        raise RuntimeError(
            f"The optimizer {optimizer.name!r} is already being applied by a "
            "LayerwiseLR (re-entrant call). Use one LayerwiseLR per optimizer instance."
        )
    state["update_step"] = scaler.update_step
    state["_apply_weight_decay"] = scaler.apply_weight_decay
    try:
        yield scaler
    finally:
        del state["update_step"]
        del state["_apply_weight_decay"]
