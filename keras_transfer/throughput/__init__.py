"""keras_transfer.throughput: precision and XLA chosen for the device it runs on.

- `select_precision` / `PrecisionChoice`: dtype policy, XLA and steps per
  execution: explicit, measured (`"auto"` with `model=`: the cached
  `autotune` winner for that model on this device and CPU) or per device.
- `autotune`: time each candidate configuration, keep the fastest, cache it.
- `effective_settings`: what a compiled model really trains with (warns).

Input pipelines are in `keras_transfer.data` (`make_dataset`, `image_folder`)
and the cached head in `keras_transfer.feature_cache` (`fit_cached_head`).
"""

from keras_transfer.throughput._autotune import autotune
from keras_transfer.throughput._effective_settings import effective_settings
from keras_transfer.throughput._select_precision import select_precision
from keras_transfer.throughput.precision_choice import PrecisionChoice
