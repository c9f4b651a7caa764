"""Precision and XLA for `keras-transfer fit`: explicit, measured, or per device.

`--precision auto` / `--jit-compile auto` use what `throughput.autotune`
measured for this exact model (architecture, input shape, batch size) on
this device, CPU, backend and library versions when a result is cached
(`throughput.select_precision(model=...)`), else the device-class rule; the
reason printed and written to the report says which. `--autotune` measures
first, on a few batches of the user's own training images, and caches the
result, so later `auto` runs of the same model reuse it without measuring.

The model is looked up fully trainable (the fine-tuning configuration, which
is where training time goes) and built under float32; when the choice is
another policy, the caller rebuilds it under that policy (layers take the
global policy when they are created).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import keras
import numpy as np

from keras_transfer import throughput
from keras_transfer.cli import _images
from keras_transfer.cli._io import say

AUTOTUNE_STEPS = 3
"""Timed steps per candidate configuration of `--autotune` (after one warm-up step)."""


def _sample(train: list, size: int, batch: int) -> tuple[np.ndarray, np.ndarray]:
    """One batch of decoded training images (float32 0..255) and their labels."""
    items = train[:batch]
    images = np.stack([_images.decode(path, size).numpy() for path, _ in items])
    return images, np.asarray([label for _, label in items], "int32")


def _autotune(
    build: Callable[[], keras.Model], train: list, size: int, batch: int
) -> None:
    x, y = _sample(train, size, batch)
    say(
        f"Autotune: timing {AUTOTUNE_STEPS} training steps of batch {batch} per "
        "precision/XLA candidate (each a fresh build and compile) ..."
    )
    best, table = throughput.autotune(
        build,
        x,
        y,
        compile_kwargs={
            "optimizer": keras.optimizers.Adam(1e-4),
            "loss": keras.losses.SparseCategoricalCrossentropy(),
        },
        batch_size=batch,
        steps=AUTOTUNE_STEPS,
        warmup_steps=1,
    )
    for row in table:
        outcome = row["error"] or f"{row['images_per_sec']:.1f} img/s"
        say(f"  {row['policy']}, jit_compile={row['effective_jit_compile']}: {outcome}")
    say(f"Autotune: {best.reason}")


def choose(
    args: argparse.Namespace,
    build: Callable[[], keras.Model],
    train: list,
    size: int,
    batch: int,
) -> tuple[throughput.PrecisionChoice, keras.Model]:
    """`(choice, model)`: the applied choice and a model built under its policy.

    `build()` builds the full model (backbone trainable) under the current
    global dtype policy; it is called once more when the chosen policy differs
    from the one the lookup model was built under.
    """
    keras.config.set_dtype_policy("float32")
    if args.autotune:
        _autotune(build, train, size, batch)
    model = build()
    choice = throughput.select_precision(
        args.precision,
        args.jit_compile,
        model=model,
        input_shape=(size, size, 3),
        batch_size=batch,
    )
    choice.apply()
    if choice.policy != "float32":
        model = build()
    return choice, model
