"""Private: the H-score of frozen features, with a shrunk covariance.

Bao, Li, Huang, Zheng, "An Information-Theoretic Approach to Transferability
in Task Transfer Learning", ICIP 2019: `H(f) = tr(cov(f)^-1 cov(E[f | y]))`,
how far apart the class means are in units of the features' spread (at most
`classes - 1`). With fewer samples than feature dimensions `cov(f)` is
singular and the plain score saturates at `classes - 1` for every feature
set; as in Ibrahim, Ponomareva, Mazumder, "Newer is not always better:
rethinking transferability metrics" (ICLR 2022), `cov(f)` is replaced by its
Ledoit-Wolf shrinkage `(1 - a) S + a mu I` and the between-class covariance
scaled by `1 - a`. With `a = 0` (plenty of samples) this is the plain H-score.
"""

from __future__ import annotations

import numpy as np


def ledoit_wolf(centred: np.ndarray) -> tuple[np.ndarray, float]:
    """`(shrunk covariance, a)`: Ledoit & Wolf (2004)'s optimal shrinkage to `mu I`."""
    n, d = centred.shape
    covariance = centred.T @ centred / n
    mu = float(np.trace(covariance)) / d
    squared = centred**2
    # Variance of the sample covariance's entries (the shrinkage numerator).
    spread = float(np.sum(squared.T @ squared) / n - np.sum(covariance**2)) / (n * d)
    distance = float(np.sum((covariance - mu * np.eye(d)) ** 2)) / d
    shrinkage = 0.0 if distance <= 0 else min(max(spread, 0.0), distance) / distance
    return (1 - shrinkage) * covariance + shrinkage * mu * np.eye(d), shrinkage


def hscore(features: np.ndarray, y: np.ndarray) -> float:
    """`tr(cov_shrunk(f)^-1 (1 - a) cov(E[f | y]))` (see the module docstring)."""
    f = np.asarray(features, "float64")
    centred = f - f.mean(axis=0)
    covariance, shrinkage = ledoit_wolf(centred)
    class_means = np.zeros_like(centred)
    for c in np.unique(y):
        class_means[y == c] = centred[y == c].mean(axis=0)
    between = (1 - shrinkage) * class_means.T @ class_means / len(f)
    solved = np.linalg.lstsq(covariance, between, rcond=None)[0]
    return float(np.trace(solved))
