"""`autotune`: time a few train steps per candidate configuration, keep the fastest."""

from __future__ import annotations

import dataclasses
import gc
import time
from typing import NamedTuple

import keras
import numpy as np

from keras_transfer._device import describe_device, tensorflow_backend
from keras_transfer.data._make_dataset import make_dataset
from keras_transfer.throughput import _tuning_cache
from keras_transfer.throughput._effective_settings import effective_settings
from keras_transfer.throughput._select_precision import select_precision
from keras_transfer.throughput.precision_choice import PrecisionChoice


class _AutotuneResult(NamedTuple):
    best: PrecisionChoice
    table: list


def _default_candidates() -> list[PrecisionChoice]:
    device = describe_device()
    mixed = "mixed_bfloat16"
    capability = device["compute_capability"]
    if device["kind"] == "gpu" and capability is not None and capability < (8, 0):
        mixed = "mixed_float16"
    # JAX without XLA runs op by op; on torch jit_compile means torch.compile.
    jits = {"jax": [True], "torch": [False]}.get(keras.backend.backend(), [False, True])
    return [
        PrecisionChoice(policy, jit, 1) for policy in ("float32", mixed) for jit in jits
    ]


def _as_choice(candidate: object) -> PrecisionChoice:
    if isinstance(candidate, PrecisionChoice):
        return candidate
    if isinstance(candidate, dict):
        return select_precision(
            candidate.get("policy", "auto"),
            candidate.get("jit_compile", "auto"),
            candidate.get("steps_per_execution", 1),
        )
    raise TypeError(
        "`candidates` must be PrecisionChoice objects or dicts with `policy`, "
        "`jit_compile`, `steps_per_execution`. "
        f"Received: candidate={candidate!r}"
    )


def _compile(model: keras.Model, compile_kwargs: dict | None, choice: PrecisionChoice):
    if compile_kwargs is not None:
        kwargs = dict(compile_kwargs)
        optimizer = kwargs.get("optimizer", "rmsprop")
        if isinstance(optimizer, keras.optimizers.Optimizer):
            kwargs["optimizer"] = keras.optimizers.deserialize(
                keras.optimizers.serialize(optimizer)
            )
    elif getattr(model, "compiled", False):
        kwargs = {"optimizer": model.optimizer, "loss": model.loss}
    else:
        raise ValueError(
            "`build_model()` returned an uncompiled model: compile it inside "
            "`build_model`, or pass `compile_kwargs={'optimizer': ..., 'loss': ...}`. "
            "Received: compile_kwargs=None"
        )
    kwargs.update(choice.compile_kwargs())
    model.compile(**kwargs)


def _timed_fit(
    model: keras.Model,
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    steps: int,
    timer: object,
) -> float:
    index = np.arange(steps * batch_size) % len(x)
    x, y = x[index], y[index]
    kwargs = {"batch_size": batch_size}
    if tensorflow_backend():
        # make_dataset, not arrays: TF feeds arrays through tf.data with its
        # autotuner on, and CPU epochs then randomly ran on one core, which
        # would pick winners. Other backends read arrays without tf.data.
        x, y, kwargs = (
            make_dataset(x, y, batch_size=batch_size, shuffle=False),
            None,
            {},
        )
    start = timer()
    model.fit(x, y, epochs=1, shuffle=False, verbose=0, **kwargs)
    return timer() - start


def autotune(
    build_model: object,
    x: np.ndarray,
    y: np.ndarray,
    *,
    compile_kwargs: dict | None = None,
    candidates: list | None = None,
    batch_size: int = 32,
    steps: int = 5,
    warmup_steps: int = 2,
    repeats: int = 1,
    timer: object = time.perf_counter,
    cache: bool = True,
    cache_dir: str | None = None,
) -> _AutotuneResult:
    """Times a few training steps of each candidate configuration; keeps the fastest.

    For each candidate (dtype policy x `jit_compile` x `steps_per_execution`)
    the candidate's policy is set globally, `build_model()` builds a fresh
    model (layers take the policy then), it is compiled with the candidate's
    `compile_kwargs()`, warmed up (compiles), and `steps` training steps are
    timed (`repeats` times, best kept). The previous global policy is
    restored afterwards. Timings on a shared machine are noisy: trust clear
    differences only.

    Args:
        build_model: a zero-argument callable returning a model, compiled or
            not (then give `compile_kwargs`). It may read
            `keras.config.dtype_policy()` to build per candidate.
        x: a sample of inputs (at least one batch is best).
        y: the matching targets.
        compile_kwargs: `compile()` arguments (optimizer, loss, ...) for
            uncompiled models; an optimizer instance is cloned per candidate.
            Defaults to `None` (use the model's own compile arguments).
        candidates: `PrecisionChoice` objects or dicts. Defaults to float32
            and the device's mixed policy, with and without XLA (only with
            XLA on JAX, only without on torch).
        batch_size: batch size of the timed steps. Defaults to `32`.
        steps: timed steps per repeat (rounded up to a multiple of
            `steps_per_execution`). Defaults to `5`.
        warmup_steps: untimed steps first (compilation). Defaults to `2`.
        repeats: timed repeats; the fastest is kept. Defaults to `1`.
        timer: a zero-argument clock returning seconds, read before and
            after each timed `fit` (while the candidate's dtype policy is the
            global one). Defaults to `time.perf_counter`; tests pass a fake
            clock to make the ranking deterministic.
        cache: store the result on disk, where `select_precision("auto",
            model=...)` finds it for the same architecture, input shape,
            batch size, device, CPU (model and vector extensions), backend
            and library versions. Defaults to `True`.
        cache_dir: where the results are stored. Defaults to `None`
            (`$KERAS_TRANSFER_CACHE/autotune`, else
            `~/.cache/keras-transfer/autotune`).

    Returns:
        A named tuple `(best, table)`: `best` is the fastest `PrecisionChoice`
        (with the effective `jit_compile` and the measured speed in its
        `reason`); `table` is a list of dicts, fastest first: `policy`,
        `jit_compile`, `steps_per_execution`, `images_per_sec`,
        `compile_seconds`, `effective_jit_compile`, `error`.

    Example:

    >>> import keras, numpy as np
    >>> from keras_transfer.throughput import autotune, PrecisionChoice
    >>> def build():
    ...     model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    ...     model.compile(optimizer="sgd", loss="mse")
    ...     return model
    >>> x, y = np.ones((16, 4), "float32"), np.ones((16, 1), "float32")
    >>> best, table = autotune(build, x, y, batch_size=8, steps=2,
    ...     candidates=[PrecisionChoice("float32", False, 1)])
    >>> best.policy, len(table)
    ('float32', 1)
    """
    if not callable(build_model):
        raise TypeError(
            "`build_model` must be a zero-argument callable returning a Keras model. "
            f"Received: build_model={build_model!r}"
        )
    if not callable(timer):
        raise TypeError(
            "`timer` must be a zero-argument callable returning seconds, such as "
            f"time.perf_counter. Received: timer={timer!r}"
        )
    for name, value in (
        ("steps", steps),
        ("batch_size", batch_size),
        ("repeats", repeats),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(
                f"`{name}` must be an integer >= 1. Received: {name}={value!r}"
            )
    choices = [_as_choice(c) for c in (candidates or _default_candidates())]
    if not choices:
        raise ValueError("`candidates` must not be empty. Received: candidates=[]")
    x, y = np.asarray(x), np.asarray(y)
    previous = keras.config.dtype_policy()
    table, key = [], None
    try:
        for choice in choices:
            spe = choice.steps_per_execution
            row = {
                "policy": choice.policy,
                "jit_compile": choice.jit_compile,
                "steps_per_execution": spe,
                "images_per_sec": 0.0,
                "compile_seconds": None,
                "effective_jit_compile": None,
                "error": None,
            }
            try:
                choice.apply()
                model = build_model()
                if cache and key is None and isinstance(model, keras.Model):
                    key = _tuning_cache.cache_key(
                        describe_device(), model, x.shape[1:], batch_size
                    )
                _compile(model, compile_kwargs, choice)
                row["effective_jit_compile"] = effective_settings(model, warn=False)[
                    "jit_compile"
                ]
                warm = max(warmup_steps, 1) * spe
                row["compile_seconds"] = _timed_fit(
                    model, x, y, batch_size, warm, timer
                )
                timed = -(-steps // spe) * spe
                best_seconds = min(
                    _timed_fit(model, x, y, batch_size, timed, timer)
                    for _ in range(repeats)
                )
                row["images_per_sec"] = timed * batch_size / best_seconds
            except Exception as error:  # a failing candidate loses, with its reason
                row["error"] = f"{type(error).__name__}: {error}"[:300]
            table.append(row)
            model = None
            gc.collect()
    finally:
        keras.config.set_dtype_policy(previous)
    table.sort(key=lambda r: r["images_per_sec"], reverse=True)
    winner = table[0]
    if winner["error"] is not None:
        raise RuntimeError(f"Every autotune candidate failed, e.g. {winner['error']}")
    runner_up = table[1]["images_per_sec"] if len(table) > 1 else None
    margin = (
        f", {winner['images_per_sec'] / runner_up:.2f}x the runner-up"
        if runner_up
        else ""
    )
    best = PrecisionChoice(
        policy=winner["policy"],
        jit_compile=bool(winner["effective_jit_compile"]),
        steps_per_execution=winner["steps_per_execution"],
        reason=(
            f"autotune: fastest of {len(table)} candidates at "
            f"{winner['images_per_sec']:.1f} img/s{margin}"
        ),
        device=select_precision("float32").device,
    )
    if key is not None:
        path = _tuning_cache.store(
            key, {"best": best.to_dict(), "table": table}, cache_dir
        )
        best = dataclasses.replace(best, reason=f"{best.reason} (cached in {path})")
    return _AutotuneResult(best, table)
