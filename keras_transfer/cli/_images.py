"""Image files for `fit`, `predict` and `evaluate`: listing, checking, decoding.

One decoder for every command, so that what `fit` trains on, what `predict`
and `evaluate` read and what `keras.utils.load_img` gives for a file at the
model's size are the same pixels: TensorFlow's decoders, RGB, float32 0..255,
resized (bilinear, antialiased, rounded) only when the size differs.
`predict` and `evaluate` stream images from disk through `tf.data`; `fit`
decodes its training and validation images once into uint8 arrays
(`load_arrays`), which `kt.fine_tune` holds in memory.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import tensorflow as tf

from keras_transfer._device import host_data_options
from keras_transfer.cli._errors import UserError
from keras_transfer.data.class_folders import (
    class_folders,
    list_images,
    stratified_split,
)

__all__ = ["list_classes", "list_images", "stratified_split"]  # + the decoders below

_EXAMPLES = 5


def list_classes(
    directory: str, argument: str, min_classes: int = 2, class_names: list | None = None
) -> dict:
    """`keras_transfer.data.class_folders`, its errors as `UserError` (one line)."""
    try:
        return class_folders(
            directory,
            argument=argument,
            min_classes=min_classes,
            class_names=class_names,
        )
    except ValueError as error:
        raise UserError(str(error)) from None


def _decode_raw(path: object) -> tf.Tensor:
    return tf.io.decode_image(
        tf.io.read_file(path), channels=3, expand_animations=False
    )


def decode(path: object, size: int) -> tf.Tensor:
    """One file (a path string or string tensor) -> float32 `(size, size, 3)`, 0..255."""
    image = tf.cast(_decode_raw(path), tf.float32)
    image.set_shape((None, None, 3))

    def resize() -> tf.Tensor:
        resized = tf.image.resize(image, (size, size), antialias=True)
        return tf.clip_by_value(tf.round(resized), 0.0, 255.0)

    same = tf.reduce_all(tf.equal(tf.shape(image)[:2], [size, size]))
    return tf.ensure_shape(tf.cond(same, lambda: image, resize), (size, size, 3))


class Progress:
    """`label: done/total images (rate img/s)` on stderr while a slow loop runs.

    On a terminal one line rewritten in place (at most 5 times a second);
    otherwise (a CI log, a file) a plain line every `every` seconds; a last
    line with the total time either way. `label=None`: silent.

    Args:
        label: what is being done, e.g. "Checking training images".
        total: the number of images.
        every: seconds between lines when not on a terminal. Defaults to `10`.
        stream: where to write. Defaults to `None` (`sys.stderr`).
        clock: the time source. Defaults to `time.perf_counter`.
    """

    def __init__(
        self, label: str | None, total: int, every: float = 10.0,
        stream: object = None, clock: object = time.perf_counter,
    ) -> None:  # fmt: skip
        self.label, self.total, self.every, self.clock = label, total, every, clock
        self.stream = sys.stderr if stream is None else stream
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = self.last = clock()
        self.done = 0

    def _line(self, seconds: float) -> str:
        rate = self.done / seconds if seconds > 0 else 0.0
        return f"{self.label}: {self.done}/{self.total} ({rate:.0f} img/s)"

    def update(self, done: int) -> None:
        """Records `done` images so far; writes a line when one is due."""
        self.done = done
        if self.label is None:
            return
        now = self.clock()
        if now - self.last >= (0.2 if self.tty else self.every):
            self.last = now
            line = self._line(now - self.start)
            self.stream.write(f"\r{line}" if self.tty else f"{line}\n")
            self.stream.flush()

    def close(self) -> None:
        """Writes the last line: the count and the time taken."""
        if self.label is None:
            return
        seconds = self.clock() - self.start
        line = f"{self._line(seconds)} in {seconds:.1f} s"
        self.stream.write(f"\r{line}\n" if self.tty else f"{line}\n")
        self.stream.flush()


def check(
    items: list,
    size: int,
    examples: int | None = _EXAMPLES,
    progress: str | None = None,
) -> tuple[list, dict]:
    """Drops the files that do not decode; returns `(readable items, report)`.

    The report counts `skipped` files (with up to `examples` (all with
    `None`) `skipped_examples`: path and reason) and `resized` ones (another
    size than `size`). The files are decoded once, in parallel, via `tf.data`.
    `progress`: a label to show the count of files read under (`Progress`).
    """
    paths = [path for path, _ in items]
    shapes = {}
    if paths:
        data = tf.data.Dataset.from_tensor_slices(paths).map(
            lambda p: (p, tf.shape(_decode_raw(p))[:2]),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        shown = Progress(progress, len(paths))
        for path, shape in data.ignore_errors().as_numpy_iterator():
            shapes[path.decode()] = tuple(shape)
            shown.update(len(shapes))
        shown.close()
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


def load_arrays(
    items: list, size: int, progress: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Decodes `(path, label)` items into `(uint8 images, int32 labels)`.

    The files are decoded in parallel through `tf.data` with `decode` (the
    same pixels as `predict` and `evaluate` read, rounded to integers so
    uint8 holds them exactly). The recipe (`kt.fine_tune`) holds the
    decoded images in memory: `N x size x size x 3` bytes, e.g. 2,000
    images at 224 px take 301 MB (287 MiB). Items must have been `check`ed (readable).
    `progress`: a label to show the count decoded under (`Progress`).
    """
    images = np.empty((len(items), size, size, 3), np.uint8)
    labels = np.asarray([label for _, label in items], "int32")
    if items:
        data = tf.data.Dataset.from_tensor_slices([path for path, _ in items]).map(
            lambda p: tf.cast(decode(p, size), tf.uint8),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
        shown = Progress(progress, len(items))
        for i, image in enumerate(data.batch(64).as_numpy_iterator()):
            images[i * 64 : i * 64 + len(image)] = image
            shown.update(i * 64 + len(image))
        shown.close()
    return images, labels
