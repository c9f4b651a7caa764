"""`keras-transfer evaluate MODEL DIR`: accuracy, balanced accuracy, confusion matrix.

Per-class precision, recall and F1 too; balanced accuracy (mean recall over
the classes present) does not reward a model that ignores a rare class.

DIR is laid out like the training folder; its subfolders are matched to the
model's class names (from the model file) by name, so a folder may hold a
subset of the classes, in any order. A folder the model does not know is an
error. Prints a markdown report; `--out STEM` writes `STEM.md`, `STEM.json`
and, with matplotlib installed, `STEM.png` (the confusion matrix).
"""

from __future__ import annotations

import argparse

import numpy as np

from keras_transfer.cli import _images, _model_file
from keras_transfer.cli._errors import UserError
from keras_transfer.cli._io import atomic_write, say, write_json, write_text


def scores(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> dict:
    """Accuracy, the confusion matrix (rows: true, columns: predicted) and per-class scores.

    Precision, recall and F1 of a class with no prediction / no image are 0.
    Balanced accuracy is the mean recall over the classes that have images
    (scikit-learn's `balanced_accuracy_score`): it does not reward ignoring a
    rare class.
    """
    matrix = np.zeros((num_classes, num_classes), "int64")
    np.add.at(matrix, (labels, predicted), 1)
    hits = np.diag(matrix).astype("float64")
    predicted_count, support = matrix.sum(axis=0), matrix.sum(axis=1)
    precision = np.divide(
        hits, predicted_count, out=np.zeros_like(hits), where=predicted_count > 0
    )
    recall = np.divide(hits, support, out=np.zeros_like(hits), where=support > 0)
    total = precision + recall
    f1 = np.divide(
        2 * precision * recall, total, out=np.zeros_like(hits), where=total > 0
    )
    return {
        "accuracy": float(hits.sum() / max(len(labels), 1)),
        "balanced_accuracy": float(recall[support > 0].mean())
        if support.any()
        else 0.0,
        "confusion_matrix": matrix.tolist(),
        "precision": precision.tolist(),
        "recall": recall.tolist(),
        "f1": f1.tolist(),
        "support": support.tolist(),
    }


def markdown(result: dict) -> str:
    """The report as markdown: accuracy, a per-class table, the confusion matrix."""
    names = result["class_names"]
    lines = [
        f"# keras-transfer evaluate: {result['data_dir']}",
        "",
        f"- model: {result['model']}",
        f"- images: {result['num_images']}; {result['skipped']} unreadable skipped",
        f"- accuracy: {result['accuracy']:.4f}",
        f"- balanced accuracy (mean recall over the classes present): "
        f"{result['balanced_accuracy']:.4f}",
        "",
        "| class | images | precision | recall | F1 |",
        "| --- | --- | --- | --- | --- |",
    ]
    for i, name in enumerate(names):
        lines.append(
            f"| {name} | {result['support'][i]} | {result['precision'][i]:.4f} | "
            f"{result['recall'][i]:.4f} | {result['f1'][i]:.4f} |"
        )
    lines += [
        "",
        "Confusion matrix (rows: true class, columns: predicted class):",
        "",
        "| true \\ predicted | " + " | ".join(names) + " |",
        "| --- |" + " --- |" * len(names),
    ]
    for name, row in zip(names, result["confusion_matrix"]):
        lines.append(f"| {name} | " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def write_png(result: dict, path: str) -> bool:
    """Plots the confusion matrix; returns False when matplotlib is not installed."""
    try:
        import matplotlib
    except ImportError:
        return False
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    names, matrix = result["class_names"], np.asarray(result["confusion_matrix"])
    side = 2 + 0.5 * len(names)
    figure, axes = plt.subplots(figsize=(side + 1, side))
    image = axes.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=axes)
    axes.set_xticks(range(len(names)), names, rotation=45, ha="right")
    axes.set_yticks(range(len(names)), names)
    for (i, j), value in np.ndenumerate(matrix):
        color = "white" if value > matrix.max() / 2 else "black"
        axes.text(j, i, str(value), ha="center", va="center", color=color)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    axes.set_title(
        f"accuracy {result['accuracy']:.4f}, balanced {result['balanced_accuracy']:.4f}"
    )
    figure.tight_layout()
    try:
        atomic_write(
            path, lambda tmp: figure.savefig(tmp, format="png", dpi=100), ".png"
        )
    finally:
        plt.close(figure)
    return True


def run(args: argparse.Namespace) -> int:
    """Runs `keras-transfer evaluate`; see the module docstring."""
    if args.batch_size < 1:
        raise UserError(
            f"`--batch-size` must be >= 1. Received: batch_size={args.batch_size}"
        )
    model, info = _model_file.load(args.model, args.unsafe)
    names, size = info["class_names"], info["image_size"]
    classes = _images.list_classes(args.data_dir, "DIR", min_classes=1)
    unknown = [name for name in classes if name not in names]
    if unknown:
        raise UserError(
            f"`DIR` has class folders the model does not know: {unknown}. The model's "
            f"classes (output order) are {names}; name the folders like those. "
            f"Received: data_dir={args.data_dir!r}"
        )
    items = [
        (path, names.index(name)) for name, files in classes.items() for path in files
    ]
    items, report = _images.check(items, size, examples=None)
    for line in report["skipped_examples"]:
        say(f"skipped: {line}")
    if not items:
        raise UserError(
            f"`DIR` has no readable image. Received: data_dir={args.data_dir!r}"
        )
    probabilities = model.predict(
        _images.dataset(items, size, args.batch_size, labels=False), verbose=0
    )
    labels = np.asarray([label for _, label in items])
    result = {
        "model": args.model,
        "data_dir": args.data_dir,
        "class_names": names,
        "num_images": len(items),
        "skipped": report["skipped"],
        "skipped_files": report["skipped_examples"],
        **scores(labels, np.argmax(probabilities, axis=-1), len(names)),
    }
    text = markdown(result)
    print(text)
    if args.out:
        write_text(args.out + ".md", text)
        write_json(args.out + ".json", result)
        written = [args.out + ".md", args.out + ".json"]
        if write_png(result, args.out + ".png"):
            written.append(args.out + ".png")
        else:
            say("PNG skipped: matplotlib is not installed (pip install matplotlib)")
        say(f"wrote {', '.join(written)}")
    return 0
