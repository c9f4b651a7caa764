"""keras-transfer: transfer learning in Keras 3 as one `model.fit()`.

Public API:

- `keras_transfer.layers.HubBackbone`: a TF Hub / SavedModel backbone as a Keras 3 layer.
- `keras_transfer.callbacks.GradualUnfreeze`: ULMFiT-style unfreezing inside one `fit()`.
- `keras_transfer.optimizers.LayerwiseLR`: per-variable learning-rate multipliers.
- `keras_transfer.layer_groups`: depth-ordered layer groups shared by the two above.
- `keras_transfer.throughput`: precision / XLA chosen per device (and by measurement).
- `keras_transfer.data`: input pipelines (`make_dataset`, `image_folder`).
- `keras_transfer.feature_cache`: `fit_cached_head`, the head trained on cached features.
- `keras_transfer.adapt_batchnorm` and `keras_transfer.adaptation`: label-free domain adaptation.
"""

from keras_transfer import (
    adaptation,
    callbacks,
    data,
    feature_cache,
    layers,
    optimizers,
    schedules,
    throughput,
)
from keras_transfer.adaptation import adapt_batchnorm
from keras_transfer.grouping import LayerGroup, layer_groups
from keras_transfer.version import __version__
