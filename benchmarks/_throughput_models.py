"""Private to benchmarks/throughput.py: models, FLOP counts, data, configurations.

Weights are never downloaded: keras.applications models are built with
`weights=None` (random init); throughput does not depend on weight values.
"""

from __future__ import annotations

import math
import time

import keras
import numpy as np

from keras_transfer._layers import walk

# Forward multiply-adds per image at 224 px (BENCHMARKS.md); scaled by (px/224)^2.
GMACS_224 = {"ResNet50": 4.1, "MobileNetV2": 0.31, "EfficientNetB0": 0.40}
APPLICATIONS = {
    "ResNet50": "ResNet50",
    "MobileNetV2": "MobileNetV2",
    "EfficientNetB0": "EfficientNetB0",
}
MODELS = ("tiny", *APPLICATIONS)
CONFIGS = ("float32", "mixed", "xla", "mixed+xla", "auto")
NUM_CLASSES = 10


def tiny_backbone(size: int) -> keras.Model:
    """A small two-block convnet (block names that `layer_groups` recognises)."""
    inputs = keras.Input((size, size, 3))
    x = keras.layers.Rescaling(1 / 255.0)(inputs)
    for block, filters in ((1, 8), (2, 16)):
        x = keras.layers.Conv2D(
            filters, 3, strides=2, padding="same", name=f"block{block}_conv"
        )(x)
        x = keras.layers.BatchNormalization(name=f"block{block}_bn")(x)
        x = keras.layers.ReLU(name=f"block{block}_relu")(x)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return keras.Model(inputs, x, name="tiny")


def build_backbone(name: str, size: int) -> keras.Model:
    """A backbone with global average pooling, random init (no download)."""
    if name == "tiny":
        return tiny_backbone(size)
    factory = getattr(keras.applications, APPLICATIONS[name])
    return factory(
        include_top=False, weights=None, input_shape=(size, size, 3), pooling="avg"
    )


def classifier(backbone: keras.Layer, size: int, hub: bool = False) -> keras.Model:
    """`backbone` + a float32 Dense head, the Keras transfer-learning recipe."""
    inputs = keras.Input((size, size, 3))
    # keras.applications: training=False keeps BatchNorm in inference mode even
    # when fine-tuning (Keras guide). A HubBackbone forwards `training` itself.
    features = backbone(inputs) if hub else backbone(inputs, training=False)
    outputs = keras.layers.Dense(NUM_CLASSES, dtype="float32", name="head")(features)
    return keras.Model(inputs, outputs, name="classifier")


def counted_macs(model: keras.Model) -> tuple[float, float]:
    """(all, trained) forward multiply-adds per image of the kernel layers.

    Conv2D, DepthwiseConv2D and Dense: prod(kernel shape) x output positions.
    "trained" counts the layers whose kernel is trainable now.
    """
    total = trained = 0.0
    for layer in walk(model):
        kernel = getattr(layer, "kernel", None)
        if kernel is None or isinstance(layer, keras.Model):
            continue
        try:
            positions = math.prod(int(d) for d in layer.output.shape[1:-1])
        except (AttributeError, ValueError):
            positions = 1
        macs = math.prod(int(d) for d in kernel.shape) * positions
        total += macs
        if kernel.trainable and layer.trainable:
            trained += macs
    return total, trained


def gflop_per_image(
    name: str, size: int, counted: tuple[float, float], phase: str
) -> float | None:
    """Training GFLOP per image: forward of all + backward (2x) of the trained part.

    Full fine-tune = 3 x 2 x MACs. The reference MACs of BENCHMARKS.md are used
    for the keras.applications models (scaled by (size/224)^2), the counted ones
    for the tiny model; the trained share always comes from the count.
    None for the cached head (a Dense layer on stored features: overhead-bound).
    """
    if phase == "head_cached":
        return None
    total, trained = counted
    share = 0.0 if total == 0 else trained / total
    if phase == "full":
        share = 1.0
    gmacs = GMACS_224[name] * (size / 224) ** 2 if name in GMACS_224 else total / 1e9
    return 2 * gmacs * (1 + 2 * share)


def mixed_policy(auto_policy: str) -> str:
    """The mixed policy of this device: the auto one when mixed, else bfloat16."""
    return auto_policy if auto_policy.startswith("mixed") else "mixed_bfloat16"


def config_settings(config: str, peer: str, auto_choice: object) -> tuple[str, object]:
    """(policy, jit_compile argument) of a configuration for a peer.

    `auto` means "what the peer picks by itself": Keras's defaults (float32,
    `jit_compile="auto"`) for keras-baseline, `select_precision("auto")` for
    keras_transfer.
    """
    mixed = mixed_policy(auto_choice.policy)
    if config == "auto":
        if peer == "keras_transfer":
            return auto_choice.policy, auto_choice.jit_compile
        return "float32", "auto"
    return {
        "float32": ("float32", False),
        "mixed": (mixed, False),
        "xla": ("float32", True),
        "mixed+xla": (mixed, True),
    }[config]


def synthetic_data(size: int, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random images in 0..255 (float32) and integer labels."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 255, (n, size, size, 3)).astype("float32")
    y = rng.integers(0, NUM_CLASSES, n).astype("int32")
    return x, y


def synthetic_images_per_sec(
    model: object, xb: object, yb: object, steps: int
) -> float:
    """img/s of `steps` `train_on_batch` calls on one resident batch.

    `train_on_batch` returns the loss as a host value, so every step is
    synced with the device before the clock is read.
    """
    start = time.perf_counter()
    for _ in range(steps):
        loss = model.train_on_batch(xb, yb)
    float(np.asarray(loss))
    return steps * int(xb.shape[0]) / (time.perf_counter() - start)
