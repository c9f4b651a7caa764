"""keras_transfer.layers.

- `HubBackbone`: a TF Hub / SavedModel backbone as a Keras 3 layer
  (TensorFlow backend); `export_reusable_savedmodel` writes one.
- `StatefulBackbone`: wraps a backbone (keras-hub, keras-cv, any layer) so a
  saved model reloads with its per-layer `trainable` flags and LoRA state.
"""

from keras_transfer.layers.hub_backbone import HubBackbone, export_reusable_savedmodel
from keras_transfer.layers.stateful_backbone import StatefulBackbone
