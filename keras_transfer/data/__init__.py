"""keras_transfer.data: input pipelines that keep the training step busy.

- `make_dataset`: arrays -> static-shape, prefetched batches with host-side
  augmentation (tf.data on TensorFlow, a `keras.utils.PyDataset` elsewhere).
- `image_folder`: a directory of class subfolders -> train / validation data.
- `class_folders`, `stratified_split`, `list_images`: the folder layout itself
  (shared with the `keras-transfer` commands).
"""

from keras_transfer.data._image_folder import image_folder
from keras_transfer.data._make_dataset import make_dataset
from keras_transfer.data.class_folders import (
    class_folders,
    list_images,
    stratified_split,
)
