"""Private: the images an export is calibrated and checked on.

An argument may be a folder (searched recursively, as `keras-transfer
predict` does), a list of image files, or an array `(n, H, W, 3)` of RGB
pixel values 0-255. Files are decoded at the model's size with the decoder
`keras_transfer.data` uses, so they are the pixels `fit` trained on. At most
`limit` are used, spread evenly over the sorted list (so every class folder
of a training folder is represented).
"""

from __future__ import annotations

import os

import numpy as np

from keras_transfer.data._decode import decode_image
from keras_transfer.data.class_folders import list_images


def _spread(items: list, limit: int) -> list:
    if len(items) <= limit:
        return list(items)
    picks = np.unique(np.linspace(0, len(items) - 1, limit).round().astype(int))
    return [items[i] for i in picks]


def load(images: object, size: tuple[int, int], limit: int, argument: str) -> tuple:
    """Returns `(float32 array (n, H, W, 3), description)`, or `(None, None)`.

    Raises:
        ValueError: the argument names no readable image, or an array of
            another shape.
    """
    if images is None:
        return None, None
    if isinstance(images, np.ndarray):
        array = np.asarray(images, dtype="float32")
        if array.ndim != 4 or tuple(array.shape[1:]) != (*size, 3):
            raise ValueError(
                f"`{argument}` as an array must have shape (n, {size[0]}, {size[1]}, 3) "
                f"(RGB pixels 0-255 at the model's size). Received: shape={array.shape}"
            )
        array = np.stack(_spread(list(array), limit)) if len(array) else array
        return array, {"source": "array", "num_images": len(array), "skipped": 0}
    if isinstance(images, (str, os.PathLike)):
        source = os.fspath(images)
        if not os.path.exists(source):
            raise ValueError(
                f"`{argument}` must be a folder of images, an image file, a list of "
                f"files or an array. Received: {argument}={source!r} (no such path)"
            )
        paths = list_images(source)
    else:
        source = f"{len(images)} files"
        paths = [os.fspath(p) for p in images]
    decoded, skipped = [], 0
    for path in _spread(paths, limit):
        try:
            decoded.append(decode_image(path, size)[0])
        except Exception:  # noqa: BLE001  (any unreadable file is skipped, counted)
            skipped += 1
    if not decoded:
        raise ValueError(
            f"`{argument}` names no readable image ({len(paths)} image files found, "
            f"{skipped} unreadable). Received: {argument}={source!r}"
        )
    description = {"source": source, "num_images": len(decoded), "skipped": skipped}
    return np.stack(decoded).astype("float32"), description


def random_pixels(size: tuple[int, int], count: int, seed: int = 0) -> np.ndarray:
    """Uniform random RGB pixels 0-255: the check's last resort, numerics only."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (count, *size, 3)).astype("float32")
