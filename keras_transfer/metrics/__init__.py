"""keras_transfer.metrics: metrics that do not reward ignoring a class.

- `BalancedAccuracy`: the mean of the per-class recalls.
"""

from keras_transfer.metrics.balanced_accuracy import BalancedAccuracy
