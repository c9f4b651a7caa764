"""The tiny frozen-backbone classifier and data the recipe tests share."""

import keras
import numpy as np


def tiny_model(seed=0, classes=3, dropout=False):
    """Input 8x8x3 -> frozen backbone c1, c2 (stride 2), c3 -> pool -> softmax head."""
    keras.utils.set_random_seed(seed)
    backbone = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="c1"),
            keras.layers.Conv2D(
                6, 3, strides=2, padding="same", activation="relu", name="c2"
            ),
            keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="c3"),
        ],
        name="backbone",
    )
    backbone.trainable = False
    inputs = keras.Input((8, 8, 3))
    features = keras.layers.GlobalAveragePooling2D()(backbone(inputs))
    if dropout:
        features = keras.layers.Dropout(0.3, seed=1)(features)
    outputs = keras.layers.Dense(classes, activation="softmax", name="head")(features)
    return keras.Model(inputs, outputs)


def tiny_data(n=48, classes=3, seed=0):
    """Learnable images: the class shifts channel 0."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    x = rng.normal(size=(n, 8, 8, 3)).astype("float32") * 0.5
    x[..., 0] += y[:, None, None]
    return x, y
