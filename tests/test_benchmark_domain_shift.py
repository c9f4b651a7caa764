"""benchmarks/_domain_shift.py, the experiment helper of benchmarks/domain_shift.py."""

import os
import sys

import keras
import numpy as np
import pytest

sys.path.insert(
    0,
    os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"
    ),
)

import _domain_shift as dsh  # noqa: E402


def _images(n=64, size=16, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(size=(n, size, size, 1)).astype("float32"), rng.integers(0, 3, n)


def test_shifts_known_answers():
    x, _ = _images(4)
    np.testing.assert_array_equal(dsh.shift_images(x, "clean"), x)
    np.testing.assert_allclose(
        dsh.shift_images(x, "contrast"), 0.3 * x + 0.6, rtol=1e-6
    )
    flat = np.full((1, 16, 16, 1), 0.5, "float32")
    blurred = dsh.shift_images(flat, "blur")
    np.testing.assert_allclose(
        blurred[0, 5:11, 5:11], 0.5, rtol=1e-5
    )  # kernel sums to 1
    assert blurred[0, 0, 0, 0] < 0.5  # zero padding at the border
    noisy = dsh.shift_images(x, "noise", seed=3)
    assert noisy.min() >= 0.0 and noisy.max() <= 1.0 and not np.allclose(noisy, x)
    np.testing.assert_array_equal(noisy, dsh.shift_images(x, "noise", seed=3))
    with pytest.raises(ValueError, match="`kind`"):
        dsh.shift_images(x, "invert")


def _brightness_classes(n, seed):
    """Three classes told apart by brightness alone (0.2, 0.5, 0.8, noise 0.1)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    levels = np.array([0.2, 0.5, 0.8])[y][:, None, None, None]
    x = np.clip(levels + rng.normal(0, 0.1, (n, 16, 16, 1)), 0, 1).astype("float32")
    return x, y


@pytest.mark.slow
def test_adabn_undoes_the_contrast_shift_and_weights_are_restored():
    keras.utils.set_random_seed(0)
    x, y = _brightness_classes(96, seed=0)
    x_eval, y_eval = _brightness_classes(96, seed=1)
    model = dsh.train_source(x, y, epochs=3, batch_size=32)
    before = [w.copy() for w in model.get_weights()]
    clean = dsh.compare_methods(model, x_eval, x_eval, y_eval, methods=("source",))
    shifted = dsh.shift_images(x_eval, "contrast")
    results = dsh.compare_methods(model, shifted, shifted, y_eval)
    assert set(results) == {"source", "adabn", "tent"}
    assert clean["source"]["accuracy"] == 1.0  # brightness classes: learnt
    # 0.3 x + 0.6 squeezes every class into the bright end: the source model fails.
    assert results["source"]["accuracy"] <= 0.7
    # The shift is affine per channel before the first BatchNorm: AdaBN undoes it.
    assert results["adabn"]["accuracy"] == 1.0
    assert results["tent"]["accuracy"] == 1.0
    # The label-free IM score ranks the adapted models above the source model.
    assert results["adabn"]["im_score"] > results["source"]["im_score"]
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="`methods`"):
        dsh.compare_methods(model, shifted, shifted, y_eval, methods=("magic",))


@pytest.mark.slow
def test_train_dann_returns_the_label_classifier():
    x, y = _brightness_classes(64, seed=0)
    classifier = dsh.train_dann(x, y, dsh.shift_images(x, "contrast"), epochs=1)
    assert isinstance(classifier, keras.Model)
    assert classifier.output_shape == (None, 3)
    assert classifier.input_shape == (None, 16, 16, 1)
