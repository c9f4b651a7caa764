"""keras_transfer.optimizers."""

from keras_transfer.optimizers.layerwise_lr import LayerwiseLR
