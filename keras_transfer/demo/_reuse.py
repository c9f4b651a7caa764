"""Compiled models the demo keeps for its whole run, so each traces once.

A Keras model traces its train and predict steps on first use (`tf.function`,
`jax.jit`, `torch.compile`) and again after every `compile()`. On TF/CPU the
first training epoch of EfficientNet-Lite0 at 128 px (batch 16) took 15.8 s
from scratch (BatchNorm training) and 6-7 s with frozen BatchNorm, against
0.2-0.4 s per later step, so a few-label arm of 24 steps was mostly tracing;
scoring a fresh model (656 cells) took 5.6 s against 2.3 s once traced.

So the one-learning-rate arms keep one compiled model each for the run, and
every cell resets it to a freshly built model of its seed (`copy_variables`:
weights, BatchNorm statistics and the dropout seed state) and the optimizer to
its state before its first step; all arms are scored through one model whose
predict step is traced once (`RunModels.predict`). The trained weights are
those of a fresh model compiled and fitted in that cell (tested).
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np


def copy_variables(source: keras.Model, target: keras.Model) -> None:
    """Assigns every variable of `source` to the same variable of `target`.

    `model.variables` (weights, non-trainable statistics, seed-generator
    states) in build order; both models must have one architecture.
    """
    pairs = list(zip(source.variables, target.variables, strict=False))
    if len(source.variables) != len(target.variables) or any(
        tuple(s.shape) != tuple(t.shape) for s, t in pairs
    ):
        raise ValueError(
            "`source` and `target` must have the same architecture. Received: "
            f"{len(source.variables)} and {len(target.variables)} variables"
        )
    for s, t in pairs:
        t.assign(keras.ops.copy(s.value))  # JAX donates buffers: never share one


class RunModels:
    """The compiled models one demo run keeps across its cells.

    Args:
        build: returns a new, uncompiled model of the run's architecture
            (built once, for scoring).
        make_optimizer: returns a new optimizer of the one-LR arms.
        loss: their loss.
        batch_size: batch size of `predict`.
    """

    def __init__(
        self,
        build: Callable[[], keras.Model],
        make_optimizer: Callable[[], keras.Optimizer],
        loss: object,
        batch_size: int,
    ) -> None:
        self._build = build
        self._make_optimizer = make_optimizer
        self._loss = loss
        self._batch_size = batch_size
        self._models: dict[str, keras.Model] = {}
        self._optimizer_start: dict[str, list[np.ndarray]] = {}
        self._scorer: keras.Model | None = None

    def one_lr(self, arm: str, fresh: keras.Model) -> keras.Model:
        """The arm's compiled model, holding `fresh`'s variables.

        The first call compiles `fresh` itself and keeps it; later calls copy
        `fresh` into the kept model and put its optimizer back to before its
        first step. `fresh` must have the kept model's architecture and
        trainable flags.
        """
        model = self._models.get(arm)
        if model is None:
            fresh.compile(optimizer=self._make_optimizer(), loss=self._loss)
            fresh.optimizer.build(fresh.trainable_variables)
            self._models[arm] = fresh
            self._optimizer_start[arm] = [
                keras.ops.convert_to_numpy(v) for v in fresh.optimizer.variables
            ]
            return fresh
        copy_variables(fresh, model)
        for variable, start in zip(
            model.optimizer.variables, self._optimizer_start[arm], strict=True
        ):
            variable.assign(start)
        return model

    def predict(self, model: keras.Model, x: np.ndarray) -> np.ndarray:
        """`model`'s outputs on `x` (inference mode), computed by the scorer."""
        if self._scorer is None:
            self._scorer = self._build()
        copy_variables(model, self._scorer)
        return self._scorer.predict(x, batch_size=self._batch_size, verbose=0)
