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
        self._order = np.arange(len(x))
        if shuffle:
            self._order = self._rng.permutation(len(x))

    def __len__(self) -> int:
        rounding = math.floor if self.drop_remainder else math.ceil
        return rounding(len(self.x) / self.batch_size)

    def __getitem__(self, index: int):
        picked = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        xb = self.x[picked]
        if self.augment is not None:
            xb = self.augment(xb)
        if self.y is None:
            return (xb,)
        return xb, self.y[picked]

    def on_epoch_end(self) -> None:
        if self.shuffle:
            self._order = self._rng.permutation(len(self.x))
