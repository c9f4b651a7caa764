"""Image files for `fit`, `predict` and `evaluate`: listing, checking, decoding.

One decoder for every command, so that what `fit` trains on, what `predict`
and `evaluate` read and what `keras.utils.load_img` gives for a file at the
model's size are the same pixels: TensorFlow's decoders, RGB, float32 0..255,
resized (bilinear, antialiased, rounded) only when the size differs. Images
stream from disk through `tf.data`; nothing holds the whole folder in memory.
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from keras_transfer._device import host_data_options
from keras_transfer.cli._errors import UserError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
_EXAMPLES = 5


def list_images(path: str) -> list[str]:
    """`path` itself if it is a file, else the image files under it, sorted."""
    if os.path.isfile(path):
        return [path]
    return sorted(
        os.path.join(root, name)
        for root, _, names in os.walk(path)
        for name in names
        if name.lower().endswith(IMAGE_EXTENSIONS)
    )


def list_classes(directory: str, argument: str, min_classes: int = 2) -> dict:
    """`{class name: [files]}` of a folder of class subfolders, names sorted."""
    if not os.path.isdir(directory):
        raise UserError(
            f"`{argument}` must be an existing directory with one subfolder of "
            "images per class (e.g. data/cats/*.png, data/dogs/*.png). "
            f"Received: {argument}={directory!r} (no such directory)"
        )
    classes, loose = {}, 0
    for entry in sorted(os.listdir(directory)):
        path = os.path.join(directory, entry)
        if os.path.isdir(path):
            if files := list_images(path):
                classes[entry] = files
        elif entry.lower().endswith(IMAGE_EXTENSIONS):
            loose += 1
    if not classes:
        found = f" ({loose} images lie directly in it)" if loose else ""
        raise UserError(
            f"`{argument}` contains no class subfolders with images "
            f"({', '.join(IMAGE_EXTENSIONS)}){found}. Put each class's images in "
            f"its own subfolder, e.g. {directory}/cats/1.png. "
            f"Received: {argument}={directory!r}"
        )
    if len(classes) < min_classes:
        raise UserError(
            f"`{argument}` must contain at least {min_classes} class subfolders with "
            f"images to train a classifier; found only {list(classes)}. Add a "
            f"subfolder per class. Received: {argument}={directory!r}"
        )
    return classes


def split(classes: dict, fraction: float, seed: int) -> tuple[list, list]:
    """Stratified `(train, validation)` lists of `(path, label)`, shuffled with `seed`."""
    rng = np.random.default_rng(seed)
    train, validation = [], []
    for label, files in enumerate(classes.values()):
        files = [files[i] for i in rng.permutation(len(files))]
        n_val = int(round(len(files) * fraction)) if len(files) > 1 else 0
        n_val = min(max(n_val, 1 if len(files) > 1 else 0), len(files) - 1)
        validation += [(path, label) for path in files[:n_val]]
        train += [(path, label) for path in files[n_val:]]
    return train, validation


def _decode_raw(path: object) -> tf.Tensor:
    return tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)


def decode(path: object, size: int) -> tf.Tensor:
    """One file (a path string or string tensor) -> float32 `(size, size, 3)`, 0..255."""
    image = tf.cast(_decode_raw(path), tf.float32)
    image.set_shape((None, None, 3))

    def resize() -> tf.Tensor:
        resized = tf.image.resize(image, (size, size), antialias=True)
        return tf.clip_by_value(tf.round(resized), 0.0, 255.0)

    same = tf.reduce_all(tf.equal(tf.shape(image)[:2], [size, size]))
    return tf.ensure_shape(tf.cond(same, lambda: image, resize), (size, size, 3))


def check(items: list, size: int, examples: int | None = _EXAMPLES) -> tuple[list, dict]:
    """Drops the files that do not decode; returns `(readable items, report)`.

    The report counts `skipped` files (with up to `examples` (all with
    `None`) `skipped_examples`: path and reason) and `resized` ones (another
    size than `size`). The files are decoded once, in parallel, via `tf.data`.
    """
    paths = [path for path, _ in items]
    shapes = {}
    if paths:
        data = tf.data.Dataset.from_tensor_slices(paths).map(
            lambda p: (p, tf.shape(_decode_raw(p))[:2]),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        for path, shape in data.ignore_errors().as_numpy_iterator():
            shapes[path.decode()] = tuple(shape)
    report = {"skipped": 0, "skipped_examples": [], "resized": 0}
    readable = []
    for path, label in items:
        if path not in shapes:
            report["skipped"] += 1
            if examples is None or len(report["skipped_examples"]) < examples:
                report["skipped_examples"].append(f"{path}: {_reason(path)}")
            continue
        report["resized"] += int(shapes[path] != (size, size))
        readable.append((path, label))
    return readable, report


def _reason(path: str) -> str:
    try:
        _decode_raw(path)
    except (tf.errors.OpError, ValueError) as error:
        message = str(getattr(error, "message", error)).strip().splitlines()
        return f"{type(error).__name__} {message[0][:120] if message else ''}".strip()
    return "unreadable"


def dataset(
    items: list,
    size: int,
    batch_size: int,
    *,
    labels: bool = True,
    shuffle: bool = False,
    seed: int = 0,
    augment: object = None,
) -> tf.data.Dataset:
    """A `tf.data` pipeline of decoded batches (`(x, y)`, or `x` alone).

    `augment` (a Keras preprocessing layer) runs batched on the host, in the
    pipeline, with `training=True`.
    """
    paths = [path for path, _ in items]
    targets = np.asarray([label for _, label in items], "int32")
    data = tf.data.Dataset.from_tensor_slices((paths, targets))
    if shuffle:
        data = data.shuffle(len(items), seed=seed, reshuffle_each_iteration=True)
    data = data.map(
        lambda p, y: (decode(p, size), y), num_parallel_calls=tf.data.AUTOTUNE
    ).batch(batch_size)
    if augment is not None:
        data = data.map(
            lambda x, y: (augment(x, training=True), y),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    if not labels:
        data = data.map(lambda x, y: x)
    # tf.data's autotuner off when training on the CPU (see make_dataset).
    return data.prefetch(tf.data.AUTOTUNE).with_options(host_data_options())
