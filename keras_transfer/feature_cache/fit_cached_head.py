"""`fit_cached_head`: train the head on frozen-backbone features computed once."""

from __future__ import annotations

import time
import warnings

import keras
import numpy as np

from keras_transfer._device import backend_is, host_data_options
from keras_transfer._validate import check_int
from keras_transfer.data._numpy_batches import EpochSync, NumpyBatches
from keras_transfer.feature_cache._extract import EXTRACTIONS, extract
from keras_transfer.feature_cache._split_frozen import split_frozen

# Head steps per compiled call by default (see `steps_per_execution`).
_STEPS_PER_EXECUTION = 32


def fit_cached_head(
    model: keras.Model,
    x: np.ndarray,
    y: np.ndarray,
    *,
    backbone: object = None,
    epochs: int = 1,
    batch_size: int = 32,
    shuffle: bool = True,
    seed: int = 0,
    validation_data: tuple | None = None,
    callbacks: list | None = None,
    class_weight: dict | None = None,
    optimizer: object = None,
    loss: object = None,
    metrics: list | None = None,
    verbose: int = 0,
    extract_batch_size: int | None = None,
    extraction: str = "auto",
    steps_per_execution: int | None = None,
) -> keras.callbacks.History:
    """Fits the head of `model` on features of its frozen part, computed once.

    While the pretrained part is frozen and its inputs are deterministic, its
    output is the same at every epoch; this computes it once (inference mode)
    and trains only the layers after it. The head is made of the SAME layer
    objects as `model`, and by default uses `model.optimizer` and `model.loss`,
    so weights and optimizer state carry over: continue with
    `model.fit(..., callbacks=[GradualUnfreeze(...)])` on the full model.

    The result equals an uncached `model.fit` with the same batches: batches
    follow `np.random.default_rng(seed).permutation(len(x))` drawn once per
    epoch from one generator (no shuffling with `shuffle=False`), the last
    batch may be smaller, like `model.fit` on arrays.

    Args:
        model: a compiled (or pass `optimizer` and `loss`) Functional or
            Sequential model whose pretrained part is frozen.
        x: inputs, as for `model.fit`.
        y: targets.
        backbone: the last top-level layer (or its name) of the part to
            cache; following weightless deterministic layers (pooling,
            flatten) join it. Defaults to the last frozen top-level layer.
        epochs: head epochs. Defaults to `1`.
        batch_size: head batch size. Defaults to `32`.
        shuffle: reshuffle every epoch. Defaults to `True`.
        seed: seed of the shuffle order. Defaults to `0`.
        validation_data: `(x_val, y_val)`, cached the same way. Defaults to
            `None`.
        callbacks: Keras callbacks for the head fit. Defaults to `None`.
        class_weight: `{class index: weight}` for the loss, as in
            `Model.fit`. Defaults to `None`.
        optimizer: defaults to `model.optimizer` (shared, so its state
            carries into the next `model.fit`).
        loss: defaults to `model.loss`.
        metrics: metrics for the head fit. Defaults to `None`.
        verbose: as in `fit`. Defaults to `0`.
        extract_batch_size: batch size of the one-time feature extraction
            (inference: no gradients, so larger than the training batch pays).
            Defaults to `None` (`max(batch_size, 128)`).
        extraction: how the features are computed: `"float32"`,
            `"float32+xla"`, `"mixed_bfloat16"`, `"mixed_bfloat16+xla"`, or
            `"auto"`: with at least 4 extraction batches of data, each variant
            is timed on two batches and the fastest kept among those whose
            features match float32's (largest error <= 5% of the largest
            float32 feature); with less data, float32. Defaults to `"auto"`.
        steps_per_execution: head steps per compiled call, as in
            `Model.compile`: a head step on cached features is so small that
            Keras's per-step overhead dominated it (MobileNetV2 features,
            batch 32, TF/CPU: 4 epochs of 257 steps in 1.9 s at 1 step per
            call, 0.83 s at 32). Batch-level callback hooks then run once
            per call, as in Keras. Defaults to `None`: `model`'s own
            `steps_per_execution` when above 1, else 32 on TensorFlow and
            JAX, and 1 on torch (which runs one step per call) and under a
            tf.distribute strategy with several replicas (where Keras 3.15's
            multi-step function failed); in every case the largest divisor
            of the epoch's step count not above that, so that each epoch
            trains exactly its own batches (a value that does not divide it
            is lowered the same way, with a warning).

    Returns:
        The `History` of the head fit. Its `feature_cache` attribute reports
        the time split: `extraction_seconds` (once, probes included),
        `head_seconds` (the head epochs), `total_seconds`, and `extraction`
        (the chosen `policy`, `jit_compile`, `batch_size`, the probe img/s of
        each variant and the bfloat16 error, `max_relative_error`).

    Example:

    >>> import keras, numpy as np
    >>> from keras_transfer.feature_cache import fit_cached_head
    >>> backbone = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4)])
    >>> backbone.trainable = False
    >>> model = keras.Sequential([keras.Input((8,)), backbone, keras.layers.Dense(1)])
    >>> model.compile(optimizer="adam", loss="mse")
    >>> x, y = np.ones((16, 8), "float32"), np.ones((16, 1), "float32")
    >>> history = fit_cached_head(model, x, y, epochs=2, batch_size=8)
    >>> len(history.history["loss"])
    2
    >>> history.feature_cache["extraction"]["policy"]  # 16 samples: not probed
    'float32'
    """
    optimizer = (
        optimizer if optimizer is not None else getattr(model, "optimizer", None)
    )
    loss = loss if loss is not None else getattr(model, "loss", None)
    if optimizer is None or loss is None:
        raise ValueError(
            "`model` must be compiled, or pass both `optimizer` and `loss`. "
            f"Received: optimizer={optimizer!r}, loss={loss!r}"
        )
    if extraction not in EXTRACTIONS:
        raise ValueError(
            f"`extraction` must be one of {list(EXTRACTIONS)}. "
            f"Received: extraction={extraction!r}"
        )
    if extract_batch_size is None:
        extract_batch_size = max(batch_size, 128)
    check_int("epochs", epochs, 1)
    check_int("extract_batch_size", extract_batch_size, 1)
    check_int("steps_per_execution", steps_per_execution, 1, allow_none=True)
    if backend_is("torch") and (steps_per_execution or 1) > 1:
        raise ValueError(  # before the extraction, which Keras's own check would follow
            "`steps_per_execution` must be 1 on the torch backend (Keras runs one "
            "step per call there); pass None or 1. "
            f"Received: steps_per_execution={steps_per_execution}"
        )
    start = time.perf_counter()
    feature_model, head, _ = split_frozen(model, backbone)
    features, report = extract(feature_model, x, extract_batch_size, extraction)
    y = np.asarray(y)
    if validation_data is not None:
        x_val, y_val = validation_data[0], validation_data[1]
        chosen = report["policy"] + ("+xla" if report["jit_compile"] else "")
        validation_data = (
            extract(feature_model, x_val, extract_batch_size, chosen)[0],
            y_val,
        )
    extraction_seconds = time.perf_counter() - start
    epoch_steps = -(-len(features) // batch_size)
    if steps_per_execution is None:
        own = getattr(model, "steps_per_execution", 1) or 1
        steps_per_execution = _divisor_at_most(
            epoch_steps, own if own > 1 else _default_steps_per_execution(model)
        )
    elif epoch_steps % steps_per_execution:
        chosen = _divisor_at_most(epoch_steps, steps_per_execution)
        warnings.warn(
            f"`steps_per_execution`={steps_per_execution} does not divide the "
            f"{epoch_steps} steps of an epoch ({len(features)} samples, batch "
            f"{batch_size}); using {chosen}, the largest divisor below it, so that "
            "every epoch trains exactly its own batches. HINT: pass a divisor of "
            "the epoch's step count to silence this.",
            stacklevel=2,
        )
        steps_per_execution = chosen
    head.compile(
        optimizer=optimizer,
        loss=loss,
        metrics=metrics,
        jit_compile=model.jit_compile if getattr(model, "compiled", False) else "auto",
        steps_per_execution=steps_per_execution,
    )
    try:
        data = _epoch_batches(features, y, epochs, batch_size, shuffle, seed)
        extra, steps = [], epoch_steps
    except ImportError:  # no TensorFlow: NumPy batches, same order
        data = NumpyBatches(features, y, batch_size, shuffle, seed, False)
        extra, steps = [EpochSync(data)], None
    head_start = time.perf_counter()
    history = head.fit(
        data,
        epochs=epochs,
        steps_per_epoch=steps,
        shuffle=False,  # the order is ours; Keras would also permute batches
        validation_data=validation_data,
        callbacks=[*extra, *(callbacks or [])],
        class_weight=class_weight,
        verbose=verbose,
    )
    head_seconds = time.perf_counter() - head_start
    history.feature_cache = {
        "extraction_seconds": extraction_seconds,
        "head_seconds": head_seconds,
        "total_seconds": extraction_seconds + head_seconds,
        "extraction": report,
    }
    return history


def _divisor_at_most(steps: int, limit: int) -> int:
    """The largest divisor of `steps` that is at most `limit`.

    Keras runs `steps_per_execution` steps per call and does not cut the last
    call of an epoch short: with 50 steps per epoch and 32 per call, each
    epoch consumed 64 batches and the data ran out in the fifth epoch.
    """
    return max(d for d in range(1, min(steps, limit) + 1) if steps % d == 0)


def _default_steps_per_execution(model: keras.Model) -> int:
    """32 head steps per call, or 1 where Keras runs one (see the docstring)."""
    if backend_is("torch"):
        return 1
    # Under a tf.distribute strategy with several replicas (MirroredStrategy
    # over 2 CPUs), Keras 3.15's multi-step function failed with "You must
    # feed a value for placeholder tensor" (tests/engines).
    strategy = getattr(model, "distribute_strategy", None)
    if getattr(strategy, "num_replicas_in_sync", 1) > 1:
        return 1
    return _STEPS_PER_EXECUTION


def _epoch_batches(
    features: np.ndarray,
    y: np.ndarray,
    epochs: int,
    batch_size: int,
    shuffle: bool,
    seed: int,
) -> object:
    """Every epoch's batches, in order, as one `tf.data` pipeline.

    Epoch e uses the e-th `permutation` of `default_rng(seed)`. A `tf.data`
    pipeline rather than a `PyDataset`: Keras feeds those through a
    generator with tf.data's autotuner on, which on a 2-core CPU took a core
    away from training (see `make_dataset`).
    """
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    n = len(features)
    # epochs x n int32 indices: small next to the features themselves
    orders = np.stack(
        [rng.permutation(n) if shuffle else np.arange(n) for _ in range(epochs)]
    ).astype(np.int32)
    features, y = tf.constant(features), tf.constant(y)
    ds = tf.data.Dataset.from_tensor_slices(orders).flat_map(
        lambda order: tf.data.Dataset.from_tensor_slices(order).batch(batch_size)
    )
    ds = ds.map(lambda picked: (tf.gather(features, picked), tf.gather(y, picked)))
    return ds.prefetch(tf.data.AUTOTUNE).with_options(host_data_options())
