"""Private to benchmarks/throughput.py: environment, matmul peaks, ratios, table, chart, JSON."""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import sys
import time

import keras
import numpy as np

from keras_transfer._device import describe_cpu
from keras_transfer.cli._io import atomic_write


def versions() -> dict:
    found = {"python": platform.python_version()}
    for package in (
        "keras",
        "numpy",
        "jax",
        "jaxlib",
        "tensorflow",
        "tf-keras",
        "tensorflow-hub",
        "torch",
    ):
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def _matmul_fn():
    """A compiled matmul through keras.ops where the backend compiles."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.jit(keras.ops.matmul), "jax.jit"
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(keras.ops.matmul), "tf.function"
    return keras.ops.matmul, "eager"


def peak_matmul_gflops(
    size: int = 2048, repeats: int = 3, seconds: float = 0.5
) -> dict:
    """Best-of-`repeats` GFLOP/s of an n x n matmul in float32 and bfloat16."""
    matmul, how = _matmul_fn()
    rng = np.random.default_rng(0)
    peaks = {}
    for dtype in ("float32", "bfloat16"):
        a = keras.ops.convert_to_tensor(rng.standard_normal((size, size)), dtype=dtype)
        b = keras.ops.convert_to_tensor(rng.standard_normal((size, size)), dtype=dtype)
        float(keras.ops.sum(keras.ops.cast(matmul(a, b)[:1, :1], "float32")))  # compile
        best = 0.0
        for _ in range(repeats):
            count, start = 0, time.perf_counter()
            while True:
                out = matmul(a, b)
                count += 1
                float(keras.ops.cast(out[0, 0], "float32"))
                elapsed = time.perf_counter() - start
                if elapsed > seconds:
                    break
            best = max(best, 2 * size**3 * count / elapsed / 1e9)
        peaks[dtype] = best
    peaks["method"] = f"{size}x{size} keras.ops.matmul via {how}, best of {repeats}"
    return peaks


COLUMNS = (
    ("model", "model"),
    ("px", "image_size"),
    ("batch", "batch_size"),
    ("phase", "phase"),
    ("peer", "peer"),
    ("config", "config"),
    ("input", "input"),
    ("policy", "precision"),
    ("jit", "jit_compile"),
    ("img/s", "images_per_sec"),
    ("min-max", None),
    ("compile s", "compile_seconds"),
    ("roofline", "roofline_fraction"),
)


def _cell(row: dict, key: str | None) -> str:
    if key is None:
        return f"{row['images_per_sec_min']:.1f}-{row['images_per_sec_max']:.1f}"
    value = row.get(key)
    if key == "config" and row.get("auto_pick"):
        return f"auto -> {row['auto_pick']} ({row['auto_source']})"
    if key == "phase" and row.get("stage"):
        return f"stage {row['stage']}"
    if value is None:
        return "-"
    if key == "roofline_fraction":
        return f"{100 * value:.1f}%" if value >= 0.001 else f"{100 * value:.2g}%"
    if isinstance(value, float):
        return (
            f"{value:.1f}"
            if value >= 10 or key != "compile_seconds"
            else f"{value:.2f}"
        )
    return str(value)


def markdown(results: list[dict]) -> str:
    """One table line per result row, after a header and a separator line.

    A `backend` column comes first when the rows are from several backends.
    """
    columns = COLUMNS
    if any("backend" in row for row in results):
        columns = (("backend", "backend"), *COLUMNS)
    lines = [
        "| " + " | ".join(title for title, _ in columns) + " |",
        "|" + "---|" * len(columns),
    ]
    for row in results:
        lines.append("| " + " | ".join(_cell(row, key) for _, key in columns) + " |")
    return "\n".join(lines)


def _atomic(path: str, write) -> None:
    def write_public(temp: str) -> None:
        write(temp)
        os.chmod(temp, 0o644)  # mkstemp makes it private; a result file is not

    atomic_write(path, write_public, suffix=os.path.splitext(path)[1])


def write_json(path: str, payload: dict) -> None:
    def write(temp: str) -> None:
        with open(temp, "w") as handle:
            json.dump(payload, handle, indent=1)
            handle.write("\n")

    _atomic(path, write)


def write_png(path: str, results: list[dict], title: str) -> str | None:
    """Horizontal bars of img/s (log scale) with min-max whiskers; None if drawn."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:
        return f"PNG skipped: matplotlib is not installed ({error})"
    labels = [
        f"{r['model']} {r['image_size']}px {r.get('stage') and 'stage ' + str(r['stage']) or r['phase']}"
        f" | {r['peer']} {r['config']} | {r['input']}"
        + (f" | {r['backend']}" if "backend" in r else "")
        for r in results
    ]
    values = [r["images_per_sec"] for r in results]
    low = [r["images_per_sec"] - r["images_per_sec_min"] for r in results]
    high = [r["images_per_sec_max"] - r["images_per_sec"] for r in results]
    colors = {"keras-baseline": "tab:gray", "keras_transfer": "tab:blue"}
    fig, ax = plt.subplots(figsize=(10, 0.28 * len(results) + 1.2), dpi=80)
    ax.barh(
        range(len(results)),
        values,
        xerr=[low, high],
        color=[colors.get(r["peer"], "tab:orange") for r in results],
    )
    ax.set_yticks(range(len(results)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("training images/sec (median, min-max whiskers; log scale)")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    _atomic(path, lambda temp: fig.savefig(temp, format="png"))
    plt.close(fig)
    return None


def environment(device: str, peaks: dict, notes: list[str]) -> dict:
    """The run's context; `cpu` (model, vector extensions) sits beside the matmul peaks."""
    return {
        "backend": keras.backend.backend(),
        "device": device,
        "cpu": describe_cpu(),
        "cpu_count": os.cpu_count(),
        "versions": versions(),
        "peak_matmul_gflops": peaks,
        "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
        "notes": notes,
    }


def add_ratios(results: list[dict], amortize_epochs: int) -> list[str]:
    """Within-run ratios, stored on the rows and returned as summary lines."""
    lines = []

    def find(**match):
        return [r for r in results if all(r.get(k) == v for k, v in match.items())]

    for row in find(phase="head_cached"):
        hub = row["model"].endswith("HubBackbone")
        base = find(
            model=row["model"],
            image_size=row["image_size"],
            batch_size=row["batch_size"],
            phase="head_frozen",
            peer="keras_transfer" if hub else "keras-baseline",
            config="auto",
        )
        for ref in base:
            steady = row["images_per_sec"] / ref["images_per_sec"]
            images = row["dataset_images"]
            # End to end, one-time costs on both sides: the plain fit's first
            # (compiling) step, against the extraction plus the cached head's
            # first epoch (its compile and one epoch), then the other epochs.
            plain = (
                ref["compile_seconds"]
                + amortize_epochs * images / ref["images_per_sec"]
            )
            cached = (
                row["feature_seconds"] + row["compile_seconds"]
                + (amortize_epochs - 1) * images / row["images_per_sec"]
            )  # fmt: skip
            amortized = plain / cached
            row.setdefault("speedup_vs_head_frozen", {})[ref["input"]] = steady
            row.setdefault(
                f"amortized_{amortize_epochs}_epochs_speedup_vs_head_frozen", {}
            )[ref["input"]] = amortized
            lines.append(
                f"cache {row['model']} {row['image_size']}px b{row['batch_size']}: steady "
                f"{steady:.1f}x; end to end over {amortize_epochs} epochs of {images} "
                f"images {amortized:.1f}x ({cached:.1f} s: extraction "
                f"{row['feature_seconds']:.1f} s + first epoch {row['compile_seconds']:.1f} s "
                f"+ the rest, against {plain:.1f} s incl. a {ref['compile_seconds']:.1f} s "
                f"compiling step) vs {ref['peer']} head_frozen ({ref['input']})"
            )
    for row in find(peer="keras_transfer", config="auto"):
        if row["phase"] not in ("head_frozen", "full") or row["model"].endswith(
            "HubBackbone"
        ):
            continue
        wanted = "synthetic" if row["input"] == "synthetic" else "arrays"
        for ref in find(
            model=row["model"],
            image_size=row["image_size"],
            batch_size=row["batch_size"],
            phase=row["phase"],
            peer="keras-baseline",
            config="auto",
            input=wanted,
        ):
            ratio = row["images_per_sec"] / ref["images_per_sec"]
            row["ratio_vs_keras_default"] = ratio
            lines.append(
                f"auto {row['model']} {row['image_size']}px b{row['batch_size']} {row['phase']} "
                f"({row['input']} vs {ref['input']}): {ratio:.2f}x keras-baseline default"
            )
    for row in find(peer="keras_transfer", config="auto"):
        if row["phase"] not in ("head_frozen", "full") or row["model"].endswith(
            "HubBackbone"
        ):
            continue
        configs = [
            r
            for r in find(
                model=row["model"],
                image_size=row["image_size"],
                batch_size=row["batch_size"],
                phase=row["phase"],
                peer="keras-baseline",
                input=row["input"],
            )
            if r["config"] != "auto"
        ]
        if configs:
            fastest = max(configs, key=lambda r: r["images_per_sec"])
            row["ratio_vs_fastest_config"] = (
                row["images_per_sec"] / fastest["images_per_sec"]
            )
            lines.append(
                f"auto {row['model']} {row['phase']} ({row['input']}) picked "
                f"{row.get('auto_pick')} ({row.get('auto_source')}): "
                f"{row['ratio_vs_fastest_config']:.2f}x the fastest configuration "
                f"measured in this run ({fastest['config']}, {fastest['images_per_sec']:.1f} img/s)"
            )
    for row in find(peer="keras-baseline"):
        if row["config"] in ("float32", "auto"):
            continue
        for ref in find(
            model=row["model"],
            image_size=row["image_size"],
            batch_size=row["batch_size"],
            phase=row["phase"],
            peer="keras-baseline",
            config="float32",
            input=row["input"],
        ):
            row["ratio_vs_float32"] = row["images_per_sec"] / ref["images_per_sec"]
            lines.append(
                f"config {row['model']} {row['phase']} {row['config']}: "
                f"{row['ratio_vs_float32']:.2f}x float32"
            )
    return lines


def backend_ratios(results: list[dict]) -> list[str]:
    """Each backend's img/s over TensorFlow's for the same row (plain Keras peer)."""
    lines = []
    same = (
        "model",
        "image_size",
        "batch_size",
        "phase",
        "peer",
        "config",
        "input",
        "stage",
    )
    reference = {
        tuple(r.get(k) for k in same): r
        for r in results
        if r.get("backend") == "tensorflow"
    }
    for row in results:
        ref = reference.get(tuple(row.get(k) for k in same))
        if row.get("backend") in (None, "tensorflow") or ref is None:
            continue
        row["ratio_vs_tensorflow"] = row["images_per_sec"] / ref["images_per_sec"]
        lines.append(
            f"{row['backend']} vs tensorflow: {row['model']} {row['phase']} {row['peer']} "
            f"{row['config']} ({row['input']}): {row['ratio_vs_tensorflow']:.2f}x"
        )
    return lines
