"""`SlantedTriangular`: ULMFiT's slanted triangular learning-rate schedule."""

from __future__ import annotations

import math

import keras

from keras_transfer._validate import check_int


@keras.saving.register_keras_serializable(package="keras_transfer")
class SlantedTriangular(keras.optimizers.schedules.LearningRateSchedule):
    """ULMFiT's slanted triangular learning rate (Howard & Ruder, 2018).

    A short linear warm-up from `max_learning_rate / ratio` to
    `max_learning_rate` over the first `cut = max(1, floor(total_steps *
    cut_frac))` steps, then a long linear decay back to
    `max_learning_rate / ratio` at `total_steps`, constant after that:

    ```
    p = step / cut                                 if step < cut
        1 - (step - cut) / (total_steps - cut)     otherwise (clipped at 0)
    lr = max_learning_rate * (1 + p * (ratio - 1)) / ratio
    ```

    The paper writes the decay denominator as `cut * (1 / cut_frac - 1)`,
    which equals `total_steps - cut` when `total_steps * cut_frac` is a
    whole number; `total_steps - cut` is used so the schedule always ends
    exactly at `max_learning_rate / ratio`.

    Args:
        max_learning_rate: the peak learning rate (ULMFiT: 0.01).
        total_steps: the number of optimizer steps of the whole schedule
            (epochs times steps per epoch), at least 2.
        cut_frac: the fraction of steps spent increasing, in (0, 1).
            Defaults to `0.1`.
        ratio: how much smaller the lowest rate is than the peak, >= 1.
            Defaults to `32`.
        name: an optional name. Defaults to `None`.

    Example:

    ```python
    import keras
    from keras_transfer.schedules import SlantedTriangular

    schedule = SlantedTriangular(0.01, total_steps=100)
    print(float(schedule(0)), float(schedule(10)), float(schedule(100)))
    # 0.0003125 0.01 0.0003125
    optimizer = keras.optimizers.Adam(learning_rate=schedule)
    ```
    """

    def __init__(
        self,
        max_learning_rate: float,
        total_steps: int,
        cut_frac: float = 0.1,
        ratio: float = 32,
        name: str | None = None,
    ) -> None:
        super().__init__()
        if (
            isinstance(max_learning_rate, bool)
            or not isinstance(max_learning_rate, (int, float))
            or not (math.isfinite(max_learning_rate) and max_learning_rate > 0)
        ):
            raise ValueError(
                "`max_learning_rate` must be a finite float > 0 (the peak rate). "
                f"Received: max_learning_rate={max_learning_rate!r}"
            )
        check_int("total_steps", total_steps, 2, hint="epochs * steps per epoch")
        if (
            isinstance(cut_frac, bool)
            or not isinstance(cut_frac, (int, float))
            or not (0 < cut_frac < 1)
        ):
            raise ValueError(
                "`cut_frac` must be a float in (0, 1): the fraction of steps spent "
                f"warming up (ULMFiT: 0.1). Received: cut_frac={cut_frac!r}"
            )
        if (
            isinstance(ratio, bool)
            or not isinstance(ratio, (int, float))
            or not (math.isfinite(ratio) and ratio >= 1)
        ):
            raise ValueError(
                "`ratio` must be a finite number >= 1 (peak / lowest rate; ULMFiT: 32). "
                f"Received: ratio={ratio!r}"
            )
        self.max_learning_rate = float(max_learning_rate)
        self.total_steps = int(total_steps)
        self.cut_frac = float(cut_frac)
        self.ratio = float(ratio)
        self.name = name
        self.cut = max(1, min(self.total_steps - 1, math.floor(total_steps * cut_frac)))

    def __call__(self, step: object) -> object:
        """The learning rate at optimizer step `step` (a scalar tensor)."""
        ops = keras.ops
        step = ops.cast(step, "float32")
        cut = float(self.cut)
        rising = step / cut
        falling = 1.0 - (step - cut) / float(self.total_steps - self.cut)
        p = ops.clip(ops.where(step < cut, rising, falling), 0.0, 1.0)
        return self.max_learning_rate * (1.0 + p * (self.ratio - 1.0)) / self.ratio

    def get_config(self) -> dict:
        """Every `__init__` argument."""
        return {
            "max_learning_rate": self.max_learning_rate,
            "total_steps": self.total_steps,
            "cut_frac": self.cut_frac,
            "ratio": self.ratio,
            "name": self.name,
        }
