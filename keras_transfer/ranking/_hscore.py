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

Computed in the samples' space (the thin SVD of the `n x d` features, no
`d x d` matrix): the class means lie in the span of the centred rows, where
the shrunk covariance is diagonal in the right singular vectors.
"""

from __future__ import annotations

import numpy as np

from keras_transfer.ranking._logme import left_singular


def ledoit_wolf_shrinkage(centred: np.ndarray) -> tuple[float, float]:
    """`(a, mu)`: Ledoit & Wolf (2004)'s optimal shrinkage towards `mu I`.

    From the `n x n` Gram matrix, so `O(n^2 d)`: `sum(S^2) = |X X^T|^2 / n^2`,
    `sum((X^2)^T X^2) = sum_i |x_i|^4`.
    """
    n, d = centred.shape
    gram = centred @ centred.T
    row_norms = np.diag(gram)
    mu = float(row_norms.sum()) / (n * d)
    covariance_squared = float(np.sum(gram**2)) / n**2  # sum of S's squared entries
    spread = (float(np.sum(row_norms**2)) / n - covariance_squared) / (n * d)
    distance = (
        covariance_squared - 2 * mu * mu * d + d * mu**2
    ) / d  # |S - mu I|^2 / d
    if distance <= 1e-12 * covariance_squared / d:  # S is already mu I (e.g. d = 1)
        return 0.0, mu
    shrinkage = min(max(spread, 0.0), distance) / distance
    return shrinkage, mu


def hscore(features: np.ndarray, y: np.ndarray) -> float:
    """`tr(cov_shrunk(f)^-1 (1 - a) cov(E[f | y]))` (see the module docstring)."""
    f = np.asarray(features, "float64")
    n = len(f)
    centred = f - f.mean(axis=0)
    shrinkage, mu = ledoit_wolf_shrinkage(centred)
    u, singular = left_singular(centred)
    keep = singular > singular.max(initial=0.0) * 1e-9
    u, singular = u[:, keep], singular[keep]
    eigen = (
        1 - shrinkage
    ) * singular**2 / n + shrinkage * mu  # shrunk cov on the row span
    total = 0.0
    for c in np.unique(y):
        mean = centred[y == c].mean(axis=0)
        along = (u.T @ (centred @ mean)) / singular  # V^T mean, with V^T = s^-1 U^T X
        total += np.mean(y == c) * float(np.sum(along**2 / eigen))
    return (1 - shrinkage) * total
