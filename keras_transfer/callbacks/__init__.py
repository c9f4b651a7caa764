"""keras_transfer.callbacks."""

from keras_transfer.callbacks.gradual_unfreeze import GradualUnfreeze
