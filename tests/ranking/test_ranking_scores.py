"""The transferability scores against known answers (NumPy only: every backend)."""

import numpy as np
import pytest

from keras_transfer.ranking._folds import stratified_folds
from keras_transfer.ranking._hscore import hscore, ledoit_wolf_shrinkage
from keras_transfer.ranking._knn import knn_accuracy, knn_predictions
from keras_transfer.ranking._linear_probe import (
    fit_softmax_regression,
    linear_probe_accuracy,
)
from keras_transfer.ranking._logme import logme, logme_details


def _clusters(separation, n_per_class=30, classes=3, dim=16, seed=0):
    """Gaussian classes whose means are `separation` apart along random directions."""
    rng = np.random.default_rng(seed)
    means = rng.normal(0, 1, (classes, dim))
    means *= separation / np.linalg.norm(means, axis=1, keepdims=True)
    y = np.repeat(np.arange(classes), n_per_class)
    return means[y] + rng.normal(0, 1, (len(y), dim)), y


def _direct_log_evidence(f, t, alpha, beta):
    """log N(t; 0, I/beta + F F^T/alpha): the Gaussian marginal likelihood itself."""
    n = len(t)
    covariance = np.eye(n) / beta + f @ f.T / alpha
    _, log_det = np.linalg.slogdet(covariance)
    return -0.5 * (t @ np.linalg.solve(covariance, t) + log_det + n * np.log(2 * np.pi))


@pytest.mark.parametrize("dim", [3, 20])  # fewer and more dimensions than samples
def test_logme_is_the_maximised_marginal_likelihood(dim):
    rng = np.random.default_rng(1)
    f = rng.normal(0, 1, (12, dim))
    y = np.arange(12) % 2
    f[:, 0] = 3.0 * y + 0.3 * f[:, 0]  # informative features: alpha stays finite
    f[:, 1] = 1.0 + 0.3 * f[:, 1]  # (LogME has no intercept; this is one)
    details = logme_details(f, y)
    for c, (evidence, alpha, beta) in enumerate(details):
        t = (y == c).astype(float)
        direct = _direct_log_evidence(f, t, alpha, beta)
        np.testing.assert_allclose(evidence, direct / 12, rtol=1e-8)
        # The fixed point is a maximum: moving alpha or beta by 5% lowers it.
        for a, b in ((alpha * 1.05, beta), (alpha / 1.05, beta),
                     (alpha, beta * 1.05), (alpha, beta / 1.05)):  # fmt: skip
            assert _direct_log_evidence(f, t, a, b) <= direct + 1e-12 * abs(direct)
        assert alpha < 1e6
    assert logme(f, y) == pytest.approx(np.mean([d[0] for d in details]))


def test_logme_known_value_one_dimension():
    # One feature, one sample: evidence of t = w f + e is N(t; 0, 1/beta + f^2/alpha).
    f, y = np.array([[2.0], [0.0]]), np.array([1, 0])
    (_, a0, b0), (e1, a1, b1) = logme_details(f, y)
    assert e1 == pytest.approx(
        _direct_log_evidence(f, np.array([1.0, 0.0]), a1, b1) / 2
    )


def test_scores_prefer_the_better_separated_features():
    good, y = _clusters(separation=4.0)
    weak, _ = _clusters(separation=1.0, seed=1)
    noise = np.random.default_rng(2).normal(0, 1, good.shape)  # the random control
    fold = stratified_folds(y, 5, seed=0)
    for score in (
        lambda f: knn_accuracy(f, y, fold, k=5),
        lambda f: linear_probe_accuracy(f, y, fold),
        lambda f: logme(f, y),
        lambda f: hscore(f, y),
    ):
        assert score(good) > score(weak) > score(noise)
    assert knn_accuracy(good, y, fold, k=5) == 1.0
    assert knn_accuracy(noise, y, fold, k=5) < 0.6  # chance is 1/3


def test_knn_matches_scikit_learn_cosine_neighbours():
    neighbors = pytest.importorskip("sklearn.neighbors")
    f, y = _clusters(separation=1.5, classes=2, n_per_class=25)
    fold = stratified_folds(y, 5, seed=3)
    ours = knn_predictions(f, y, fold, k=5)  # odd k, 2 classes: no tied votes
    centred = f - f.mean(axis=0)
    for i in range(5):
        model = neighbors.KNeighborsClassifier(n_neighbors=5, metric="cosine")
        model.fit(centred[fold != i], y[fold != i])
        np.testing.assert_array_equal(
            ours[fold == i], model.predict(centred[fold == i])
        )


def test_knn_tie_goes_to_the_nearer_class():
    # Centred already (mean 0). Sample 0's two nearest: sample 1 (class 1, nearer)
    # and sample 2 (class 0): one vote each, so the nearer class wins.
    f = np.array([[1, 0], [0.9, 0.2], [0.5, 1], [-1, 0], [-0.9, -0.2], [-0.5, -1]])
    y = np.array([0, 1, 0, 0, 1, 0])
    fold = np.array([0, 1, 1, 1, 1, 1])
    assert knn_predictions(f, y, fold, k=2)[0] == 1
    # k is capped at the smallest class's training count (2 here): the same.
    assert knn_predictions(f, y, fold, k=10)[0] == 1


def test_knn_k_never_exceeds_the_smallest_class():
    # 6 + 6 separable samples, k=10: uncapped, the held-out sample's own class
    # would be outvoted by the other class's full count.
    f = np.r_[np.full((6, 2), [1.0, 0.0]), np.full((6, 2), [-1.0, 0.0])]
    f += np.random.default_rng(0).normal(0, 0.01, f.shape)
    y = np.repeat([0, 1], 6)
    assert knn_accuracy(f, y, stratified_folds(y, 5, seed=0), k=10) == 1.0


def test_linear_probe_matches_scikit_learn_logistic_regression():
    linear_model = pytest.importorskip("sklearn.linear_model")
    f, y = _clusters(separation=2.0, dim=4, n_per_class=20)
    x = (f - f.mean(0)) / f.std(0)
    l2 = 0.05
    weights, bias = fit_softmax_regression(x, y, 3, l2=l2, steps=3000)
    reference = linear_model.LogisticRegression(
        C=1 / (l2 * len(y)), tol=1e-10, max_iter=10000
    )
    reference.fit(x, y)
    np.testing.assert_allclose(weights, reference.coef_.T, atol=2e-4)
    # Softmax biases are defined up to a constant; both are centred by the penalty-free
    # optimum only up to that shift.
    np.testing.assert_allclose(bias - bias.mean(), reference.intercept_ - reference.intercept_.mean(),
                               atol=2e-4)  # fmt: skip


def test_linear_probe_in_the_row_space_gives_the_same_logits():
    from keras_transfer.ranking._linear_probe import probe_logits

    f, y = _clusters(separation=1.0, dim=50, n_per_class=10)  # 30 samples, 50 dims
    args = (f[:24], y[:24], f[24:], 3, 1e-2, 3000)
    np.testing.assert_allclose(probe_logits(*args), probe_logits(*args, reduce=False),
                               atol=1e-4)  # fmt: skip


def test_hscore_one_dimension_is_between_over_total_variance():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 10)
    f = (y * 1.5 + rng.normal(0, 1, 30))[:, None]
    means = np.array([f[y == c].mean() for c in range(3)])[y]
    expected = np.var(means) / np.var(f)
    assert hscore(f, y) == pytest.approx(expected, rel=1e-10)


def test_hscore_matches_its_dense_formula_with_scikit_learns_ledoit_wolf():
    covariance = pytest.importorskip("sklearn.covariance")
    rng = np.random.default_rng(0)
    for n, d in ((20, 30), (60, 5)):  # fewer, then more samples than dimensions
        y = np.arange(n) % 3
        f = rng.normal(0, 1, (n, d)) * np.linspace(0.5, 3, d) + y[:, None]
        shrunk, reference_shrinkage = covariance.ledoit_wolf(f)
        shrinkage, mu = ledoit_wolf_shrinkage(f - f.mean(0))
        assert shrinkage == pytest.approx(reference_shrinkage, rel=1e-10)
        centred = f - f.mean(0)
        means = np.stack([centred[y == c].mean(0) for c in y])
        between = (1 - shrinkage) * means.T @ means / n
        expected = np.trace(np.linalg.solve(shrunk, between))
        assert hscore(f, y) == pytest.approx(expected, rel=1e-8)


def test_folds_hold_every_class_and_shrink_to_the_smallest_class():
    y = np.array([0] * 7 + [1] * 3 + [2] * 5)
    fold = stratified_folds(y, 5, seed=0)
    assert fold.max() + 1 == 3  # the smallest class has 3 images
    for f in range(3):
        assert set(y[fold == f]) == {0, 1, 2}
    np.testing.assert_array_equal(fold, stratified_folds(y, 5, seed=0))
