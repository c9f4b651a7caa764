"""keras_transfer.feature_cache: train a head on frozen-backbone features computed once.

- `fit_cached_head`: split a model after its frozen backbone, compute the
  backbone's features once, train the head on them for many epochs.
"""

from keras_transfer.feature_cache.fit_cached_head import fit_cached_head
