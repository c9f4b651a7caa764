"""`keras-transfer predict MODEL IMAGE_OR_DIR...`: top classes per image file.

Reads the class names and the input size from the model file (`_model_file`),
decodes the files as `fit` does (`_images`), prints one line per file
(`path: class probability, ...`, best first) and, with `--json`, writes the
same with every probability in full. Files that do not decode are listed on
stderr, counted and skipped.
"""

from __future__ import annotations

import argparse
import os

import numpy as np

from keras_transfer.cli import _images, _model_file
from keras_transfer.cli._errors import UserError
from keras_transfer.cli._io import say, write_json
from keras_transfer.data.class_folders import list_images


def _files(paths: list[str]) -> tuple[list[str], list[str]]:
    """`(image files, missing paths)` of the command-line arguments."""
    files, missing = [], []
    for path in paths:
        if os.path.exists(path):
            files += list_images(path)
        else:
            missing.append(f"{path}: no such file or directory")
    return files, missing


def top_classes(
    probabilities: np.ndarray, class_names: list[str], k: int
) -> list[dict]:
    """The `k` most probable classes of one image, best first (ties: lower index)."""
    order = np.argsort(-probabilities, kind="stable")[:k]
    return [
        {"class": class_names[i], "probability": float(probabilities[i])} for i in order
    ]


def run(args: argparse.Namespace) -> int:
    """Runs `keras-transfer predict`; see the module docstring."""
    if args.top < 1 or args.batch_size < 1:
        raise UserError(
            "`--top` and `--batch-size` must be integers >= 1. "
            f"Received: top={args.top}, batch_size={args.batch_size}"
        )
    model, info = _model_file.load(args.model, args.unsafe)
    names, size = info["class_names"], info["image_size"]
    files, missing = _files(args.images)
    items, report = _images.check([(path, 0) for path in files], size, examples=None)
    bad = missing + report["skipped_examples"]
    for line in bad:
        say(f"skipped: {line}")
    if not items:
        raise UserError(
            f"no readable image among IMAGE_OR_DIR ({len(bad)} unreadable or missing). "
            f"Received: {args.images}"
        )
    data = _images.dataset(items, size, args.batch_size, labels=False)
    probabilities = np.asarray(model.predict(data, verbose=0), "float64")
    k = min(args.top, len(names))
    predictions = []
    for (path, _), row in zip(items, probabilities):
        top = top_classes(row, names, k)
        predictions.append({"file": path, "top": top})
        print(
            f"{path}: " + ", ".join(f"{t['class']} {t['probability']:.4f}" for t in top)
        )
    say(
        f"{len(predictions)} image(s) predicted; {len(bad)} unreadable or missing skipped"
    )
    if args.json:
        write_json(args.json, {
            "model": args.model, "class_names": names, "predictions": predictions,
            "skipped": len(bad), "skipped_files": bad,
        })  # fmt: skip
        say(f"json: {args.json}")
    return 0
