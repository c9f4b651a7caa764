"""Private: cross-validated linear-probe accuracy (multinomial logistic regression).

NumPy only: features standardised on the training fold, softmax regression
with an L2 penalty, fitted by Nesterov-accelerated gradient descent with the
step `1 / L` (`L`: the Lipschitz constant of the gradient, `||X||^2 / (2n) +
l2`, the largest singular value found by power iteration). The objective is
strongly convex, so the fit does not depend on the start. With more
dimensions than training samples the fit runs on the coordinates of the
samples in their row space (`X V`, from the Gram matrix): the penalised
optimum lies in that span, so the logits are the same at a fraction of the
cost.
"""

from __future__ import annotations

import numpy as np

from keras_transfer.ranking._logme import left_singular


def _largest_singular_value(x: np.ndarray, iterations: int = 30) -> float:
    vector = np.random.default_rng(0).standard_normal(x.shape[1])
    for _ in range(iterations):
        vector = x.T @ (x @ vector)
        norm = np.linalg.norm(vector)
        if norm == 0:
            return 0.0
        vector /= norm
    return float(np.linalg.norm(x @ vector))


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def fit_softmax_regression(
    x: np.ndarray, y: np.ndarray, num_classes: int, l2: float, steps: int
) -> tuple[np.ndarray, np.ndarray]:
    """`(weights, bias)` minimising mean cross-entropy + `l2/2 * ||weights||^2`."""
    n, d = x.shape
    targets = np.eye(num_classes)[y]
    lipschitz = _largest_singular_value(np.c_[x, np.ones(n)]) ** 2 / (2.0 * n) + l2
    step = 1.0 / lipschitz
    params = np.zeros((d + 1, num_classes))
    previous = params
    momentum_t = 1.0
    design = np.c_[x, np.ones(n)]
    penalty = np.r_[np.full(d, l2), 0.0][:, None]  # the bias is not penalised
    for _ in range(steps):
        next_t = (1.0 + np.sqrt(1.0 + 4.0 * momentum_t**2)) / 2.0
        look = params + ((momentum_t - 1.0) / next_t) * (params - previous)
        gradient = design.T @ (_softmax(design @ look) - targets) / n + penalty * look
        previous, params, momentum_t = params, look - step * gradient, next_t
    return params[:-1], params[-1]


def probe_logits(
    train: np.ndarray, y: np.ndarray, test: np.ndarray, num_classes: int,
    l2: float, steps: int, reduce: bool = True,
) -> np.ndarray:  # fmt: skip
    """Logits of `test` from the probe fitted on `train` (standardised by `train`)."""
    mean, std = train.mean(axis=0), train.std(axis=0)
    std = np.where(std > 1e-12, std, 1.0)
    train, test = (train - mean) / std, (test - mean) / std
    if reduce and train.shape[1] > len(train):
        u, singular = left_singular(train)
        keep = singular > singular.max(initial=0.0) * 1e-9
        basis = train.T @ (u[:, keep] / singular[keep])  # V: the rows' span
        train, test = train @ basis, test @ basis
    weights, bias = fit_softmax_regression(train, y, num_classes, l2, steps)
    return test @ weights + bias


def linear_probe_accuracy(
    features: np.ndarray,
    y: np.ndarray,
    fold: np.ndarray,
    l2: float = 1e-3,
    steps: int = 300,
) -> float:
    """The share of samples the probe trained on the other folds classifies right."""
    x = np.asarray(features, "float64")
    num_classes = int(y.max()) + 1
    correct = 0
    for f in np.unique(fold):
        test, train = fold == f, fold != f
        logits = probe_logits(x[train], y[train], x[test], num_classes, l2, steps)
        correct += int(np.sum(logits.argmax(axis=1) == y[test]))
    return correct / len(y)
