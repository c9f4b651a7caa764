"""keras-transfer: transfer learning in Keras 3 as one `model.fit()`.

Public API:

- `keras_transfer.layers.HubBackbone`: a TF Hub / SavedModel backbone as a Keras 3 layer.
- `keras_transfer.callbacks.GradualUnfreeze`: ULMFiT-style unfreezing inside one `fit()`.
- `keras_transfer.optimizers.LayerwiseLR`: per-variable learning-rate multipliers.
- `keras_transfer.fine_tune`: the whole recipe in one call (`keras_transfer.recipe`).
- `keras_transfer.metrics.BalancedAccuracy`: mean per-class recall.
- `keras_transfer.layer_groups`: depth-ordered layer groups shared by the two above.
- `keras_transfer.throughput`: precision / XLA chosen per device (and by measurement).
- `keras_transfer.data`: input pipelines (`make_dataset`, `image_folder`).
- `keras_transfer.feature_cache`: `fit_cached_head`, the head trained on cached features.
- `keras_transfer.adapt_batchnorm` and `keras_transfer.adaptation`: label-free domain adaptation.
- `keras_transfer.lr_find` (`LRFindResult`): the learning-rate range test.
- `keras_transfer.enable_lora`, `merge_lora` (`LoraTable`): LoRA adapters by layer group.
- `keras_transfer.applications`: EfficientNet-Lite backbones with offline weights.
- `keras_transfer.rank_backbones` (`RankingResult`): which backbone to fine-tune.

Subpackages load on first use (`kt.layers`, `from keras_transfer import
adapt_batchnorm`), so `import keras_transfer` and the `keras-transfer`
command's `--help` / `--version` do not import Keras or TensorFlow. To load a
saved model that contains this package's layers in a new process, import the
subpackage first (`import keras_transfer.layers`): that registers its classes.
"""

from __future__ import annotations

import importlib

from keras_transfer.version import __version__

_SUBPACKAGES = (
    "adaptation",
    "applications",
    "callbacks",
    "cli",
    "data",
    "demo",
    "export",
    "feature_cache",
    "layers",
    "metrics",
    "optimizers",
    "ranking",
    "recipe",
    "schedules",
    "throughput",
)
# public name -> the module that defines it.
_NAMES = {
    "adapt_batchnorm": "keras_transfer.adaptation",
    "fine_tune": "keras_transfer.recipe",
    "FineTuneResult": "keras_transfer.recipe",
    "enable_lora": "keras_transfer.lora",
    "merge_lora": "keras_transfer.lora",
    "LoraTable": "keras_transfer.lora",
    "lr_find": "keras_transfer.lr_finder",
    "LRFindResult": "keras_transfer.lr_finder",
    "LayerGroup": "keras_transfer.grouping",
    "rank_backbones": "keras_transfer.ranking",
    "RankingResult": "keras_transfer.ranking",
    "layer_groups": "keras_transfer.grouping",
}


def __getattr__(name: str) -> object:
    if name in _SUBPACKAGES:
        return importlib.import_module(f"keras_transfer.{name}")
    if name in _NAMES:
        return getattr(importlib.import_module(_NAMES[name]), name)
    raise AttributeError(f"module 'keras_transfer' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_SUBPACKAGES, *_NAMES})
