"""benchmarks/_domain_shift.py, the experiment helper of benchmarks/domain_shift.py."""

import os
import sys

import keras
import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))

import _domain_shift as dsh  # noqa: E402


def _images(n=64, size=16, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(size=(n, size, size, 1)).astype("float32"), rng.integers(0, 3, n)


def test_shifts_known_answers():
    x, _ = _images(4)
    np.testing.assert_array_equal(dsh.shift_images(x, "clean"), x)
    np.testing.assert_allclose(dsh.shift_images(x, "contrast"), 0.3 * x + 0.6, rtol=1e-6)
    flat = np.full((1, 16, 16, 1), 0.5, "float32")
    blurred = dsh.shift_images(flat, "blur")
    np.testing.assert_allclose(blurred[0, 5:11, 5:11], 0.5, rtol=1e-5)  # kernel sums to 1
    assert blurred[0, 0, 0, 0] < 0.5  # zero padding at the border
    noisy = dsh.shift_images(x, "noise", seed=3)
    assert noisy.min() >= 0.0 and noisy.max() <= 1.0 and not np.allclose(noisy, x)
    np.testing.assert_array_equal(noisy, dsh.shift_images(x, "noise", seed=3))
    with pytest.raises(ValueError, match="`kind`"):
        dsh.shift_images(x, "invert")


@pytest.mark.slow
def test_compare_methods_restores_source_weights():
    x, y = _images()
    model = dsh.train_source(x, y, epochs=1, batch_size=32)
    before = [w.copy() for w in model.get_weights()]
    results = dsh.compare_methods(model, dsh.shift_images(x, "contrast"), x, y)
    assert set(results) == {"source", "adabn", "tent"}
    for scores in results.values():
        assert 0.0 <= scores["accuracy"] <= 1.0 and np.isfinite(scores["im_score"])
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    classifier = dsh.train_dann(x, y, dsh.shift_images(x, "contrast"), epochs=1)
    assert classifier.output_shape == (None, 3)
    assert isinstance(classifier, keras.Model)
