"""Private: LogME, the log marginal evidence of a linear model on frozen features.

You, Liu, Wang, Long, "LogME: Practical Assessment of Pre-trained Models for
Transfer Learning", ICML 2021 (arXiv:2102.11005). Each class's one-hot column
`t` is modelled as `t = F w + noise`, `w ~ N(0, 1/alpha)`, noise
`~ N(0, 1/beta)`; `alpha` and `beta` maximise the evidence
`log p(t | F, alpha, beta)` by the paper's fixed-point updates

    gamma = sum_i beta s_i / (alpha + beta s_i)
    alpha = gamma / |m|^2,  beta = (n - gamma) / |t - F m|^2

(`s_i`: eigenvalues of `F^T F`, `m`: the posterior mean of `w`), computed
from one thin SVD of `F` shared by every class. The score is the mean over
classes of the evidence per sample:

    L = D/2 log alpha + n/2 log beta - 1/2 log|alpha I + beta F^T F|
        - beta/2 |t - F m|^2 - alpha/2 |m|^2 - n/2 log 2 pi.
"""

from __future__ import annotations

import numpy as np


def _class_evidence(
    u: np.ndarray, singular: np.ndarray, target: np.ndarray, dim: int,
    tolerance: float, max_iterations: int,
) -> tuple[float, float, float]:  # fmt: skip
    """`(evidence / n, alpha, beta)` for one target column."""
    n = len(target)
    sigma = singular**2  # eigenvalues of F^T F on F's row space; 0 elsewhere
    projected = u.T @ target
    alpha, beta = 1.0, 1.0

    def posterior() -> tuple[float, float]:
        coefficients = (
            beta * singular * projected / (alpha + beta * sigma)
        )  # m in V's basis
        residual = target - u @ (singular * coefficients)
        return float(coefficients @ coefficients), float(residual @ residual)

    for _ in range(max_iterations):
        gamma = float(np.sum(beta * sigma / (alpha + beta * sigma)))
        m_squared, residual_squared = posterior()
        new_alpha = gamma / max(m_squared, 1e-30)
        new_beta = (n - gamma) / max(residual_squared, 1e-30)
        converged = (
            abs(new_alpha - alpha) <= tolerance * alpha
            and abs(new_beta - beta) <= tolerance * beta
        )
        alpha, beta = new_alpha, new_beta
        if converged:
            break
    m_squared, residual_squared = posterior()
    log_det = np.sum(np.log(alpha + beta * sigma)) + (dim - len(sigma)) * np.log(alpha)
    evidence = (
        dim / 2 * np.log(alpha) + n / 2 * np.log(beta) - log_det / 2
        - beta / 2 * residual_squared - alpha / 2 * m_squared
        - n / 2 * np.log(2 * np.pi)
    )  # fmt: skip
    return float(evidence) / n, alpha, beta


def left_singular(f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`(U, s)` of the thin SVD of `f`; from the `n x n` Gram matrix when `n <= d`
    (an eigendecomposition of it is several times cheaper than the SVD of `f`)."""
    if len(f) > f.shape[1]:
        u, singular, _ = np.linalg.svd(f, full_matrices=False)
        return u, singular
    eigenvalues, u = np.linalg.eigh(f @ f.T)
    return u, np.sqrt(np.clip(eigenvalues, 0.0, None))


def logme_details(
    features: np.ndarray,
    y: np.ndarray,
    tolerance: float = 1e-4,
    max_iterations: int = 100,
) -> list[tuple[float, float, float]]:
    """`(evidence / n, alpha, beta)` per class (the one-hot column of each)."""
    f = np.asarray(features, "float64")
    u, singular = left_singular(f)
    return [
        _class_evidence(u, singular, (y == c).astype("float64"), f.shape[1],
                        tolerance, max_iterations)
        for c in range(int(y.max()) + 1)
    ]  # fmt: skip


def logme(features: np.ndarray, y: np.ndarray) -> float:
    """LogME: the mean over classes of the maximised evidence per sample."""
    return float(np.mean([evidence for evidence, _, _ in logme_details(features, y)]))
