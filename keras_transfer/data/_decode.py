"""Private: decode one image file to a fixed-size uint8 RGB array."""

from __future__ import annotations

import numpy as np

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


def decode_image(path: str, image_size: tuple[int, int]) -> tuple[np.ndarray, bool]:
    """Returns `(uint8 array (h, w, 3), was_resized)`; raises on unreadable files.

    Uses TensorFlow's decoders when TensorFlow is installed, else Pillow.
    """
    try:
        import tensorflow as tf
    except ImportError:
        tf = None
    if tf is not None:
        data = tf.io.read_file(path)
        image = tf.io.decode_image(data, channels=3, expand_animations=False)
        resized = tuple(image.shape[:2]) != tuple(image_size)
        if resized:
            image = tf.image.resize(image, image_size, antialias=True)
            image = tf.clip_by_value(tf.round(image), 0, 255)
        return np.asarray(image).astype("uint8"), resized
    from PIL import Image

    with Image.open(path) as handle:
        image = handle.convert("RGB")
        resized = image.size != (image_size[1], image_size[0])
        if resized:
            image = image.resize((image_size[1], image_size[0]), Image.BILINEAR)
        return np.asarray(image, dtype="uint8"), resized
