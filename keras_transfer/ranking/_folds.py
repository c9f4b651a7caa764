"""Private: stratified folds shared by the cross-validated scores."""

from __future__ import annotations

import numpy as np


def stratified_folds(y: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """The fold index (0..n_folds-1) of each sample, stratified by class.

    `n_folds = min(folds, smallest class count)`, so that every fold holds
    each class at least once. Each class's members are shuffled with
    `np.random.default_rng(seed)` and dealt round-robin.
    """
    counts = np.bincount(y)
    n_folds = int(min(folds, counts[counts > 0].min()))
    rng = np.random.default_rng(seed)
    fold = np.empty(len(y), dtype=int)
    offset = 0
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        fold[members] = (np.arange(len(members)) + offset) % n_folds
        offset += len(members)  # classes start at different folds: even sizes
    return fold
