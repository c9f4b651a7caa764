"""keras_transfer.throughput: fast training on the device it runs on.

- `select_precision` / `PrecisionChoice`: dtype policy, XLA and steps per
  execution, explicit or per device ("auto").
- `autotune`: time each candidate configuration, keep the fastest.
- `effective_settings`: what a compiled model really trains with (warns).
- `make_dataset`: arrays -> static-shape, prefetched tf.data with host-side
  augmentation (TF and JAX backends).
- `image_folder`: a directory of class subfolders -> train / validation data.
- `fit_cached_head`: train the head on frozen-backbone features computed once.
"""

from keras_transfer.throughput.autotune import autotune
from keras_transfer.throughput.effective_settings import effective_settings
from keras_transfer.throughput.fit_cached_head import fit_cached_head
from keras_transfer.throughput.image_folder import image_folder
from keras_transfer.throughput.make_dataset import make_dataset
from keras_transfer.throughput.precision_choice import PrecisionChoice
from keras_transfer.throughput.select_precision import select_precision
