"""Private: a NumPy batch source for machines without TensorFlow."""

from __future__ import annotations

import math

import keras
import numpy as np


class NumpyBatches(keras.utils.PyDataset):
    """Static-shape NumPy batches with per-epoch reshuffling (no TensorFlow).

    Args:
        x: array of inputs.
        y: array of targets, or None.
        batch_size: samples per batch.
        shuffle: reshuffle at every epoch.
        seed: seed of the shuffle order.
        drop_remainder: drop the last ragged batch.
        augment: callable applied to each input batch, or None.
    """

    def __init__(  # noqa: D107
        self,
        x: np.ndarray,
        y: np.ndarray | None,
        batch_size: int,
        shuffle: bool,
        seed: int | None,
        drop_remainder: bool,
        augment: object = None,
    ):
        super().__init__()
        self.x, self.y = x, y
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_remainder = drop_remainder
        self.augment = augment
        self._rng = np.random.default_rng(seed)
        self._orders = []
        self.epoch = 0

    def __len__(self) -> int:
        rounding = math.floor if self.drop_remainder else math.ceil
        return rounding(len(self.x) / self.batch_size)

    def _order(self) -> np.ndarray:
        if not self.shuffle:
            return np.arange(len(self.x))
        while len(self._orders) <= self.epoch:
            self._orders.append(self._rng.permutation(len(self.x)))
        return self._orders[self.epoch]

    def set_epoch(self, epoch: int) -> None:
        """Selects the order of `epoch`: the epoch-th permutation of `seed`."""
        self.epoch = epoch

    def __getitem__(self, index: int):
        picked = self._order()[index * self.batch_size : (index + 1) * self.batch_size]
        xb = self.x[picked]
        if self.augment is not None:
            xb = self.augment(xb)
        if self.y is None:
            return (xb,)
        return xb, self.y[picked]

    def on_epoch_end(self) -> None:
        self.epoch += 1


class EpochSync(keras.callbacks.Callback):
    """Keeps a `NumpyBatches` on the order of the epoch `fit` is in.

    Keras may call `on_epoch_end` of a data set outside the training epochs
    (e.g. after peeking at the first batch), so the order follows the epoch
    number, not a count of calls.
    """

    def __init__(self, batches: NumpyBatches):  # noqa: D107
        super().__init__()
        self.batches = batches

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.batches.set_epoch(epoch)
