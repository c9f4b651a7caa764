"""`keras-transfer evaluate`'s scores, known answers by hand."""

import numpy as np
import pytest

from keras_transfer.cli import evaluate


def test_scores_by_hand():
    # 6 of class 0 (5 right), 2 of class 1 (both called 0), none of class 2.
    labels = np.array([0, 0, 0, 0, 0, 0, 1, 1])
    predicted = np.array([0, 0, 0, 0, 0, 2, 0, 0])
    result = evaluate.scores(labels, predicted, 3)
    assert result["accuracy"] == pytest.approx(5 / 8)
    # Mean recall over the classes with images: (5/6 + 0) / 2; class 2 has none.
    assert result["balanced_accuracy"] == pytest.approx((5 / 6 + 0) / 2)
    assert result["recall"] == pytest.approx([5 / 6, 0.0, 0.0])
    assert result["precision"] == pytest.approx([5 / 7, 0.0, 0.0])
    assert result["confusion_matrix"] == [[5, 0, 1], [2, 0, 0], [0, 0, 0]]


def test_balanced_accuracy_does_not_reward_ignoring_a_rare_class():
    labels = np.array([0] * 9 + [1])
    always_zero = evaluate.scores(labels, np.zeros(10, int), 2)
    assert always_zero["accuracy"] == pytest.approx(0.9)
    assert always_zero["balanced_accuracy"] == pytest.approx(0.5)


def test_markdown_prints_balanced_accuracy():
    result = {
        "data_dir": "d", "model": "m.keras", "num_images": 2, "skipped": 0,
        "class_names": ["a", "b"],
        **evaluate.scores(np.array([0, 1]), np.array([0, 0]), 2),
    }  # fmt: skip
    text = evaluate.markdown(result)
    assert "- accuracy: 0.5000" in text
    assert "- balanced accuracy (mean recall over the classes present): 0.5000" in text
