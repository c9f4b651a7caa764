"""`BalancedAccuracy`: the mean per-class recall, as a stateful Keras metric."""

from __future__ import annotations

import keras
from keras import ops

from keras_transfer._validate import check_int


@keras.saving.register_keras_serializable(package="keras_transfer")
class BalancedAccuracy(keras.metrics.Metric):
    """Mean over classes of the fraction of that class's samples predicted right.

    On imbalanced data plain accuracy rewards ignoring a rare class (a model
    that never predicts it loses only its share of the samples); balanced
    accuracy loses `1 / num_classes` for it. Classes absent from every batch
    seen so far are left out of the mean (as scikit-learn's
    `balanced_accuracy_score` does). The prediction is the arg-max of
    `y_pred`; `y_true` holds class indices (sparse) or, with `sparse=False`,
    one-hot rows. `sample_weight` weights each sample in its class's count.

    Args:
        num_classes: number of classes (the model's output units).
        sparse: `y_true` holds class indices; `False` for one-hot rows.
            Defaults to `True`.
        name: the metric's name. Defaults to `"balanced_accuracy"`.
        dtype: the metric's dtype. Defaults to `None` (float32).

    Example:

    >>> import numpy as np
    >>> from keras_transfer.metrics import BalancedAccuracy
    >>> metric = BalancedAccuracy(num_classes=2)
    >>> y_true = np.array([0, 0, 0, 1])
    >>> y_pred = np.array([[1.0, 0.0]] * 4)  # always class 0
    >>> metric.update_state(y_true, y_pred)
    >>> round(float(metric.result()), 3)  # accuracy would be 0.75
    0.5
    """

    def __init__(
        self,
        num_classes: int,
        sparse: bool = True,
        name: str = "balanced_accuracy",
        dtype: object = None,
    ) -> None:
        super().__init__(name=name, dtype=dtype)
        check_int("num_classes", num_classes, 2, hint="the model's output units")
        self.num_classes = num_classes
        self.sparse = bool(sparse)
        self.correct = self.add_variable((num_classes,), "zeros", name="correct")
        self.total = self.add_variable((num_classes,), "zeros", name="total")

    def update_state(
        self, y_true: object, y_pred: object, sample_weight: object = None
    ) -> None:
        """Adds a batch's per-class hits and counts."""
        if self.sparse:
            labels = ops.reshape(ops.cast(y_true, "int32"), (-1,))
        else:
            labels = ops.argmax(ops.reshape(y_true, (-1, self.num_classes)), axis=-1)
        predicted = ops.argmax(ops.reshape(y_pred, (-1, self.num_classes)), axis=-1)
        truth = ops.one_hot(labels, self.num_classes, dtype=self.dtype)
        hit = ops.cast(ops.equal(labels, ops.cast(predicted, labels.dtype)), self.dtype)
        weight = ops.ones_like(hit)
        if sample_weight is not None:
            weight = ops.reshape(ops.cast(sample_weight, self.dtype), (-1,))
        truth = truth * weight[:, None]
        self.correct.assign_add(ops.sum(truth * hit[:, None], axis=0))
        self.total.assign_add(ops.sum(truth, axis=0))

    def result(self) -> object:
        """The mean recall over the classes seen so far."""
        correct = ops.convert_to_tensor(self.correct)
        total = ops.convert_to_tensor(self.total)
        seen = ops.cast(ops.greater(total, 0), self.dtype)
        recall = ops.divide_no_nan(correct, total)
        return ops.divide_no_nan(ops.sum(recall * seen), ops.sum(seen))

    def reset_state(self) -> None:
        """Forgets every batch."""
        self.correct.assign(ops.zeros((self.num_classes,), self.dtype))
        self.total.assign(ops.zeros((self.num_classes,), self.dtype))

    def get_config(self) -> dict:
        """`super().get_config()` plus `num_classes` and `sparse`."""
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "sparse": self.sparse,
        }
