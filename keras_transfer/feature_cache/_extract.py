"""Private: compute the frozen part's features as fast as the device allows.

Inference at a large batch size; under `"auto"`, bfloat16 and XLA are timed
against float32 on a probe slice (when the whole float32 extraction would
take longer than `PROBE_PAYOFF` compiles, so that probing can pay off) and
kept only when faster AND their features match float32's (largest error
within `BF16_TOLERANCE` of the largest float32 feature magnitude). A bfloat16
copy of the feature model is rebuilt from its config under `mixed_bfloat16`
with the same weights. The probes of the other variants, cheapest compile
first, share a budget of `PROBE_BUDGET` of the float32 extraction's
estimated time; a variant whose predicted probe cost (float32 compiles times
`XLA_COMPILE_FACTOR` for XLA and `BF16_COPY_FACTOR` for bfloat16) would
overrun it is not probed.
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
# The probes of the other variants may spend this share of the estimated
# float32 extraction. MobileNetV2 at 64 px on a 2-core CPU (TF), 8,192
# images: the float32 extraction alone was ~10 s, the four probes took it to
# 41 s, the two XLA compiles ~9.5 s each (8x a 1.2 s float32 compile).
PROBE_BUDGET = 0.1
# A variant's probe cost, predicted before it runs: one compile of the float32
# reference (its first call), times XLA_COMPILE_FACTOR for an XLA variant
# against a non-XLA reference (8x measured above), times BF16_COPY_FACTOR for
# a bfloat16 one (its copy is rebuilt from the config, then compiled: 3.0 s
# against the 1.1 s float32 compile in the same run).
XLA_COMPILE_FACTOR = 10
BF16_COPY_FACTOR = 3
# In probing order: the cheap compiles first.
EXTRACTIONS = ("auto", "float32", "mixed_bfloat16", "float32+xla", "mixed_bfloat16+xla")


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
    spent = budget = first = reference_jit = estimate = None
    for name in EXTRACTIONS[1:]:
        policy, jit = _variant(name)
        if keras.backend.backend() == "jax" and "+xla" not in name:
            continue  # the same as the +xla variant on JAX
        if reference is not None:
            predicted = (
                first
                * (XLA_COMPILE_FACTOR if jit and not reference_jit else 1)
                * (BF16_COPY_FACTOR if policy != "float32" else 1)
            )
            if spent + predicted > budget:
                report["candidates"][name] = (
                    f"not probed: ~{predicted:.1f} s to compile would take the probes "
                    f"past their budget ({spent:.1f} s spent of {budget:.1f} s = "
                    f"{PROBE_BUDGET:.0%} of the ~{estimate:.1f} s float32 extraction)"
                )
                continue
        try:
            if policy not in models:
                models[policy] = (
                    feature_model
                    if policy == "float32"
                    else _bfloat16_copy(feature_model)
                )
            t0 = timer()
            _features(models[policy], probe[:batch_size], batch_size, jit, compiled)
            compile_seconds = timer() - t0
            t0 = timer()
            out = _features(models[policy], probe, batch_size, jit, compiled)
            seconds = max(timer() - t0, 1e-9)
        except Exception as error:  # a variant that cannot run is not picked
            report["candidates"][name] = f"failed: {type(error).__name__}: {error}"[
                :200
            ]
            continue
        if reference is None:
            reference, first, reference_jit = out, compile_seconds, jit
            estimate = n * seconds / len(probe)
            spent, budget = 0.0, PROBE_BUDGET * estimate
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
            spent += compile_seconds + seconds
            scale = float(np.max(np.abs(reference))) or 1.0
            error = float(np.max(np.abs(out - reference))) / scale
            if policy != "float32":
                report["max_relative_error"] = max(
                    report["max_relative_error"] or 0.0, error
                )
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
