"""Private: published ImageNet-1k top-1 accuracy of the offline candidates.

A prior, not a measurement on the user's data: few transferability scores
beat a model's own ImageNet accuracy (arXiv:2405.20420). Meaningful only for
the ImageNet weights the figure was published for; `rank_backbones` reports
it for a candidate given by one of these names (and takes the user's own
figures through `imagenet_top1=`).
"""

from __future__ import annotations

# name -> (top-1 on the ImageNet-1k validation set, source)
IMAGENET_TOP1 = {
    "EfficientNetLite0": (
        0.751,
        "tensorflow/tpu models/official/efficientnet/lite/README.md (float, 224 px)",
    ),
    "EfficientNetLite1": (
        0.767,
        "tensorflow/tpu models/official/efficientnet/lite/README.md (float, 240 px)",
    ),
    "EfficientNetLite2": (
        0.776,
        "tensorflow/tpu models/official/efficientnet/lite/README.md (float, 260 px)",
    ),
    "MobileNetV2": (
        0.713,
        "keras.io/api/applications table (keras.applications.MobileNetV2, alpha 1.0)",
    ),
    "VGG16": (0.713, "keras.io/api/applications table (keras.applications.VGG16)"),
}


def known_top1(name: str, extra: dict | None) -> tuple[float | None, str | None]:
    """`(top-1, source)` for `name`: the user's `extra` first, then the table."""
    if extra and name in extra:
        return float(extra[name]), "imagenet_top1 argument"
    return IMAGENET_TOP1.get(name, (None, None))
