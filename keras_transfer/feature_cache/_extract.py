"""Private: compute the frozen part's features as fast as the device allows.

Inference at a large batch size; under `"auto"`, bfloat16 and XLA are timed
against float32 on a probe slice (when the whole float32 extraction would
take longer than `PROBE_PAYOFF` compiles, so that probing can pay off) and
kept only when faster AND their features match float32's (largest error
within `BF16_TOLERANCE` of the largest float32 feature magnitude). A bfloat16 copy of the feature model is rebuilt from its
config under `mixed_bfloat16` with the same weights.
"""

from __future__ import annotations

import time

import keras
import numpy as np

# bfloat16 keeps 8 bits of mantissa: ~0.4% per rounding, a few % after depth.
BF16_TOLERANCE = 0.05
# Probe the other variants only when the float32 extraction would take longer
# than this many times its first (compiling) call: each probe compiles too.
PROBE_PAYOFF = 10
EXTRACTIONS = ("auto", "float32", "float32+xla", "mixed_bfloat16", "mixed_bfloat16+xla")


def _with_policy(config: object, policy: str) -> object:
    """`config` with every float32 `DTypePolicy` replaced by `policy`."""
    if isinstance(config, dict):
        if config.get("class_name") == "DTypePolicy":
            name = config.get("config", {}).get("name")
            if name == "float32":
                return {**config, "config": {**config["config"], "name": policy}}
            return config
        return {key: _with_policy(value, policy) for key, value in config.items()}
    if isinstance(config, list):
        return [_with_policy(value, policy) for value in config]
    return config


def _bfloat16_copy(feature_model: keras.Model) -> keras.Model:
    config = _with_policy(feature_model.get_config(), "mixed_bfloat16")
    copy = feature_model.__class__.from_config(config)
    copy.set_weights(feature_model.get_weights())
    return copy


def _features(
    model: keras.Model, x: np.ndarray, batch_size: int, jit: bool, compiled: dict
) -> np.ndarray:
    """`model.predict(x)` as float32; compiles (re-traces) only when `jit` changes."""
    if compiled.get(id(model)) is not jit:
        model.compile(jit_compile=jit)
        compiled[id(model)] = jit
    out = model.predict(x, batch_size=batch_size, verbose=0)
    return np.asarray(out, dtype="float32")


def _is_array(x: object) -> bool:
    """Whether `x` can be sliced for probes (arrays, tensors, lists)."""
    return hasattr(x, "shape") or isinstance(x, (list, tuple))


def _variant(name: str) -> tuple[str, bool]:
    policy, _, xla = name.partition("+")
    jit = bool(xla) or keras.backend.backend() == "jax"  # JAX predict is always XLA
    return policy, jit


def extract(
    feature_model: keras.Model,
    x: object,
    batch_size: int,
    extraction: str,
    timer: object = time.perf_counter,
) -> tuple[np.ndarray, dict]:
    """`(features, report)`: the features of `x` and how they were computed.

    `report`: `policy`, `jit_compile`, `batch_size`, `seconds` (the whole
    extraction, probes included), `max_relative_error` (bfloat16 vs float32
    on the probe, None when not measured) and `candidates` (name -> probe
    img/s, or the reason it was dropped).
    """
    start = timer()
    report = {"batch_size": batch_size, "max_relative_error": None, "candidates": {}}
    compiled: dict = {}
    if extraction == "auto" and not _is_array(x):
        extraction = "float32"  # a dataset or generator cannot be sliced into probes
        report["candidates"]["auto"] = (
            f"x is a {type(x).__name__}, not an array: float32, not probed"
        )
    n = len(x) if _is_array(x) else None
    if extraction == "auto" and n < 4 * batch_size:
        extraction = "float32"  # too little data for probing to pay off
        report["candidates"]["auto"] = (
            f"{n} samples < 4 x extraction batch {batch_size}: float32, not probed"
        )
    if extraction != "auto":
        policy, jit = _variant(extraction)
        model = feature_model if policy == "float32" else _bfloat16_copy(feature_model)
        features = _features(model, x, batch_size, jit, compiled)
        report.update(policy=policy, jit_compile=jit, seconds=timer() - start)
        return features, report
    probe = x[: 2 * batch_size]
    timed, reference, models = {}, None, {}
    for name in EXTRACTIONS[1:]:
        policy, jit = _variant(name)
        if keras.backend.backend() == "jax" and "+xla" not in name:
            continue  # the same as the +xla variant on JAX
        try:
            if policy not in models:
                models[policy] = (
                    feature_model if policy == "float32" else _bfloat16_copy(feature_model)
                )
            t0 = timer()
            _features(models[policy], probe[:batch_size], batch_size, jit, compiled)
            first = timer() - t0
            t0 = timer()
            out = _features(models[policy], probe, batch_size, jit, compiled)
            seconds = max(timer() - t0, 1e-9)
        except Exception as error:  # a variant that cannot run is not picked
            report["candidates"][name] = f"failed: {type(error).__name__}: {error}"[:200]
            continue
        if reference is None:
            reference = out
            estimate = n * seconds / len(probe)
            if estimate < PROBE_PAYOFF * first:
                timed[name] = len(probe) / seconds
                report["candidates"][name] = round(timed[name], 1)
                report["candidates"]["auto"] = (
                    f"{name}: the whole extraction (~{estimate:.1f} s) is under "
                    f"{PROBE_PAYOFF}x one compile ({first:.1f} s), too short for "
                    "the other variants' compiles to pay off; not probed"
                )
                break
        else:
            scale = float(np.max(np.abs(reference))) or 1.0
            error = float(np.max(np.abs(out - reference))) / scale
            if policy != "float32":
                report["max_relative_error"] = max(report["max_relative_error"] or 0.0, error)
            if error > BF16_TOLERANCE:
                report["candidates"][name] = (
                    f"dropped: max error {error:.3f} of the float32 feature scale "
                    f"> {BF16_TOLERANCE}"
                )
                continue
        timed[name] = len(probe) / seconds
        report["candidates"][name] = round(timed[name], 1)
    best = max(timed, key=timed.get)
    policy, jit = _variant(best)
    features = _features(models[policy], x, batch_size, jit, compiled)
    report.update(policy=policy, jit_compile=jit, seconds=timer() - start)
    return features, report
