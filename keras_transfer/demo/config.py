"""Settings of one demo run: `DemoConfig`, the solar task's `SOLAR`, the arms.

Public: `DemoConfig`, `SOLAR`, `ARMS`, `TASKS`, `ALL`, `DemoSettingsError`.
"""

from __future__ import annotations

import dataclasses

from keras_transfer.demo.data import IMAGE_SIZE

ARMS = ("scratch", "frozen", "full", "gradual")
# Arms run only when asked for (`--arms ... recipe`): `recipe` is
# `kt.fine_tune` with its defaults (it carves its own validation split).
OPTIONAL_ARMS = ("recipe",)
TASKS = ("digits", "solar")  # the first is the default (see `--task`)
# `k = 0` in `ks` stands for the whole training pool (the full split).
ALL = 0


class DemoSettingsError(ValueError):
    """The run's settings cannot be served (e.g. more labels per class than
    the training pool holds, or a SavedModel backbone off TensorFlow).

    The user's mistake, not a bug: `keras-transfer demo` reports it in one line.
    """


@dataclasses.dataclass
class DemoConfig:
    """Every setting of one demo run (recorded in the JSON)."""

    task: str = "digits"
    num_classes: int = 10
    ks: tuple[int, ...] = (1, 5, 10)
    seeds: tuple[int, ...] = (0, 1, 2)
    num_test: int = 1000
    image_size: int = IMAGE_SIZE
    cut: str = "block3_pool"
    batch_size: int = 16
    epochs: int = 20  # scratch and full
    lr: float = 1e-4  # scratch and full: one learning rate for everything
    # frozen arm and the gradual arm's head phase (cached: cheap)
    head_epochs: int = 100
    head_lr: float = 3e-3
    finetune_epochs: int = 6  # gradual arm after the head phase
    finetune_lr: float = 3e-4  # peak of the slanted triangle, head group
    decay: float = 0.3  # LayerwiseLR: group i gets finetune_lr * decay**i
    epochs_per_stage: int = 2
    backbone_source: str = "auto"  # "hub" (TensorFlow only), "keras" or "auto"
    cache_dir: str = ""
    # k = ALL (the full split): epochs of the scratch/full arms, the cached head
    # and the gradual arm's fine-tuning (many more images per epoch).
    all_epochs: int = 4
    all_head_epochs: int = 30
    all_finetune_epochs: int = 4
    all_seeds: int = 1  # seeds of the full split (the first of `seeds`)
    all_epochs_per_stage: int = 1
    # GradualUnfreeze / LayerwiseLR groups (a `layer_groups` spec, top first);
    # empty: the automatic groups.
    stages: tuple = ()
    # Training-time augmentation of the fits on images (not the cached head):
    # "none", or "flips" (random horizontal and vertical flips, on the host).
    augment: str = "none"


# EfficientNet-Lite0's natural stages as layer groups (head, top, block7 ...
# block1, stem): ten stages, so a few fine-tuning epochs reach the mid blocks.
_LITE_STAGES = (
    ("head", "feature_norm"),
    ("top_conv", "top_bn"),
    *((rf"block{i}[a-z]_.*",) for i in range(7, 0, -1)),
    ("stem_conv", "stem_bn"),
)

# Settings of the solar task (EfficientNet-Lite0 at 128 px; see the README for
# the measured times): k = 5 and 20 labels per class, then the full split.
SOLAR = dict(
    task="solar",
    num_classes=4,
    ks=(5, 20, ALL),
    num_test=656,
    image_size=128,
    epochs=12,
    lr=1e-4,
    head_epochs=100,
    head_lr=3e-3,
    # As many fine-tuning epochs as the full arm, one stage per epoch: all ten
    # stages train by the tenth (6 epochs at 2 per stage reached 3 of them,
    # and gradual trailed full at k=5, 0.421 against 0.466).
    finetune_epochs=12,
    finetune_lr=3e-4,
    decay=0.7,
    epochs_per_stage=1,
    stages=_LITE_STAGES,
    # An EL cell flipped is still the same cell: flips are free labelled data.
    augment="flips",
)
