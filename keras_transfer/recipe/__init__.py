"""keras_transfer.recipe: the transfer-learning recipe as one call.

- `fine_tune`: head on cached features, then deeper stages trained on
  activations cached at a cut inside the frozen backbone, layer-wise learning
  rates, class weights, the best epoch kept by validation balanced accuracy.
"""

from keras_transfer.recipe.fine_tuning import (
    FineTuneResult,
    balanced_class_weight,
    fine_tune,
    softened_class_weight,
)
