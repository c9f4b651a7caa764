"""Fixtures of the export tests: PNG folders and a tiny trained classifier.

The model (Rescaling -> Conv2D -> GlobalAveragePooling2D -> Dense -> Dense
softmax) is trained on bright vs dark PNG files (`_export_images`) until it
separates them, so a faithful export must give the same top-1 answer on
every file.
"""

import keras
import pytest
from _export_images import SIZE, read_images, write_images


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("images")
    return {
        "train": write_images(root / "train", per_class=16, seed=0),
        "held_out": write_images(root / "held_out", per_class=8, seed=1),
    }


@pytest.fixture(scope="module")
def classifier(folders):
    """A trained bright-vs-dark model (Dense(64) so that dynamic range quantizes it)."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 3)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(2, activation="softmax"),
        ],
        name="bright_dark",
    )
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])  # fmt: skip
    pixels, labels = read_images(folders["train"])
    model.fit(pixels.astype("float32"), labels, epochs=30, batch_size=8, verbose=0)
    held_out, held_labels = read_images(folders["held_out"])
    accuracy = (
        model.predict(held_out.astype("float32"), verbose=0).argmax(-1) == held_labels
    )
    assert accuracy.mean() == 1.0, "the fixture model must separate the classes"
    return model
