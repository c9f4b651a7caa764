"""keras_transfer.throughput: precision and XLA chosen for the device it runs on.

- `select_precision` / `PrecisionChoice`: dtype policy, XLA and steps per
  execution: explicit, measured (`"auto"` with `model=`: the cached
  `autotune` winner for that model on this device and CPU) or per device.
- `autotune`: time each candidate configuration, keep the fastest, cache it.
- `effective_settings`: what a compiled model really trains with (warns).

Re-exported for one release, from their new homes (import them from there):
`make_dataset` and `image_folder` (`keras_transfer.data`), `fit_cached_head`
(`keras_transfer.feature_cache`).
"""

from keras_transfer.data.image_folder import image_folder
from keras_transfer.data.make_dataset import make_dataset
from keras_transfer.feature_cache.fit_cached_head import fit_cached_head
from keras_transfer.throughput.autotune import autotune
from keras_transfer.throughput.effective_settings import effective_settings
from keras_transfer.throughput.precision_choice import PrecisionChoice
from keras_transfer.throughput.select_precision import select_precision
