"""Fresh VGG16 backbones for the demo's digits task: TF Hub SavedModels or Keras.

On TensorFlow the demo exports the VGG16 trunk (pretrained, or random for the
scratch arm) once as a TF Hub format SavedModel into a cache directory and
loads it back through `HubBackbone`; other backends build the same Keras
VGG16 directly (SavedModels are TensorFlow's).

Public: `Backbones`, `default_cache_dir`, and the VGG16 itself,
`build_vgg16_backbone` / `hed_weights_path` (from
`keras_transfer/applications/_vgg16_hed.py`; `benchmarks/lora.py` uses it).
"""

from __future__ import annotations

import os

import keras

from keras_transfer._device import tensorflow_backend
from keras_transfer.applications._vgg16_hed import (
    build_vgg16_backbone,
    hed_weights_path,
)
from keras_transfer.demo._progress import say
from keras_transfer.demo.config import DemoSettingsError

__all__ = ["Backbones", "build_vgg16_backbone", "default_cache_dir", "hed_weights_path"]


def default_cache_dir() -> str:
    """`$KERAS_TRANSFER_CACHE`, else `~/.cache/keras-transfer`."""
    return os.environ.get("KERAS_TRANSFER_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "keras-transfer"
    )


class Backbones:
    """Makes fresh backbones: HubBackbone over cached SavedModels, or Keras VGG16."""

    def __init__(self, config: object) -> None:
        self.config = config
        source = config.backbone_source
        if source == "auto":
            source = "hub" if tensorflow_backend() else "keras"
        if source == "hub" and not tensorflow_backend():
            raise DemoSettingsError(
                '`backbone_source` "hub" (`--backbone-source hub`) needs the '
                "TensorFlow backend (SavedModels are TensorFlow's). Set "
                "KERAS_BACKEND=tensorflow or use `--backbone-source keras`. "
                f"Received: backend={keras.backend.backend()}"
            )
        self.source = source
        self.cache_dir = config.cache_dir or default_cache_dir()

    def _export(self, pretrained: bool, seed: int) -> str:
        from keras_transfer.layers import export_reusable_savedmodel

        c = self.config
        tag = "hed" if pretrained else f"random_seed{seed}"
        path = os.path.join(
            self.cache_dir, f"vgg16_{tag}_{c.cut}_{c.image_size}px_savedmodel"
        )
        if os.path.isfile(os.path.join(path, "saved_model.pb")):
            return path
        say(f"  exporting {'pretrained' if pretrained else 'random'} VGG16 -> {path}")
        model = build_vgg16_backbone(c.image_size, c.cut, pretrained, seed)
        os.makedirs(self.cache_dir, exist_ok=True)
        partial = f"{path}.partial{os.getpid()}"
        export_reusable_savedmodel(model, partial)
        os.replace(partial, path)
        return path

    def prepare(self, seeds: tuple[int, ...]) -> None:
        """Exports every SavedModel the run needs (cached between runs)."""
        if self.source == "hub":
            self._export(True, 0)
            for seed in seeds:
                self._export(False, seed)

    def make(self, pretrained: bool, seed: int) -> keras.Layer:
        c = self.config
        keras.utils.set_random_seed(seed)
        if self.source == "keras":
            return build_vgg16_backbone(c.image_size, c.cut, pretrained, seed)
        from keras_transfer.layers import HubBackbone

        return HubBackbone(self._export(pretrained, seed), name="backbone")
