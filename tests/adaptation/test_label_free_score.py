"""label_free_score: known answers on models with fixed outputs."""

import math

import keras
import numpy as np
import pytest

from keras_transfer.adaptation import label_free_score


def _fixed(bias, activation=None, classes=3):
    """A model whose output ignores x: Dense with zero kernel and a given bias."""
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(classes, activation=activation)]
    )
    model.set_weights([np.zeros((4, classes), "float32"), np.asarray(bias, "float32")])
    return model


X = np.random.default_rng(0).normal(size=(40, 4)).astype("float32")


@pytest.mark.parametrize("activation", [None, "softmax"])
def test_uniform_predictions(activation):
    scores = label_free_score(_fixed([0.0, 0.0, 0.0], activation), X, batch_size=16)
    assert scores["entropy"] == pytest.approx(math.log(3), rel=1e-5)
    assert scores["confidence"] == pytest.approx(1 / 3, rel=1e-5)
    assert scores["class_balance"] == pytest.approx(1.0, rel=1e-5)
    assert scores["im_score"] == pytest.approx(0.0, abs=1e-5)
    assert scores["samples"] == 40


def test_confident_and_balanced_beats_collapsed():
    # Per-sample one-hot-ish predictions spread over the classes: high IM score.
    kernel = np.zeros((4, 2), "float32")
    kernel[0] = [20.0, -20.0]
    spread = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    spread.set_weights([kernel, np.zeros(2, "float32")])
    good = label_free_score(spread, X)
    collapsed = label_free_score(_fixed([10.0, -10.0], classes=2), X)
    share = float(np.mean(X[:, 0] > 0))
    balance = -(share * math.log(share) + (1 - share) * math.log(1 - share))
    assert good["class_balance"] == pytest.approx(balance / math.log(2), rel=1e-2)
    marginal = good["class_balance"] * math.log(2)
    assert good["im_score"] == pytest.approx(marginal - good["entropy"], rel=1e-6)
    assert collapsed["entropy"] < 1e-6 and collapsed["class_balance"] < 1e-6
    assert good["im_score"] > 0.5 > collapsed["im_score"]


def test_agreement_with_reference_and_labels_ignored():
    first = _fixed([1.0, 0.0, 0.0])
    second = _fixed([0.0, 1.0, 0.0])
    assert (
        label_free_score(first, (X, np.zeros(40)), reference=first)["agreement"] == 1.0
    )
    assert label_free_score(first, X, reference=second)["agreement"] == 0.0


def test_bad_input():
    model = _fixed([0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="`data` is empty"):
        label_free_score(model, np.zeros((0, 4), "float32"))
    with pytest.raises(TypeError, match="`reference`"):
        label_free_score(model, X, reference="source")
    with pytest.raises(TypeError, match="`model`"):
        label_free_score(keras.layers.Dense(2), X)
