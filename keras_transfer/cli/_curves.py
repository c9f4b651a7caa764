"""`fit`'s training curves: `OUT.png` beside the model, drawn from the history.

Two panels over the epochs (head phase first, then each stage): the training
and validation loss; the validation accuracy and balanced accuracy. A dashed
vertical line marks where each phase begins (the head, then each stage that
unfroze more groups), a star the epoch whose weights were kept. Drawn with
matplotlib's Agg canvas (no display needed) when matplotlib is installed.
"""

from __future__ import annotations

from keras_transfer._files import atomic_write

# (panel, history key, label): one line per logged metric
METRICS = (
    (0, "loss", "train loss"),
    (0, "val_loss", "validation loss"),
    (1, "val_accuracy", "validation accuracy"),
    (1, "val_balanced_accuracy", "validation balanced accuracy"),
)
MISSING = 'not drawn: matplotlib is not installed (pip install "keras-transfer[demo]")'


def phase_starts(history: list) -> list[tuple[int, str]]:
    """`(epoch index, phase)` where each phase of the history begins."""
    starts = []
    for index, row in enumerate(history):
        if not starts or starts[-1][1] != row["phase"]:
            starts.append((index, row["phase"]))
    return starts


def plot(history: list, kept_epoch: int | None, path: str, title: str = "") -> dict:
    """Draws the curves of `history` into the PNG `path`, atomically.

    Args:
        history: `fine_tune`'s rows (`phase` and the `METRICS` keys).
        kept_epoch: the index of the kept epoch (or `None`).
        path: the PNG to write.
        title: the figure's title. Defaults to `""`.

    Returns:
        `{"path": path, "lines": [labels drawn], "phase_starts": [...]}`, or
        `{"path": None, "note": why}` when matplotlib is missing or there is
        no epoch to draw.
    """
    if not history:
        return {"path": None, "note": "not drawn: no epoch was trained"}
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return {"path": None, "note": MISSING}
    figure = Figure(figsize=(8, 6.5), layout="constrained")
    FigureCanvasAgg(figure)
    panels = figure.subplots(2, 1, sharex=True)
    epochs = list(range(1, len(history) + 1))
    lines = []
    for panel, key, label in METRICS:
        values = [row.get(key) for row in history]
        if any(value is None for value in values):
            continue
        (line,) = panels[panel].plot(epochs, values, marker=".", label=label)
        lines.append(label)
        if kept_epoch is not None and key in ("val_loss", "val_balanced_accuracy"):
            panels[panel].plot(epochs[kept_epoch], values[kept_epoch], marker="*",
                               markersize=16, color=line.get_color(), linestyle="none",
                               label=f"kept (epoch {kept_epoch + 1})" if panel else None)  # fmt: skip
    starts = phase_starts(history)
    for index, phase in starts:
        for axes in panels:
            axes.axvline(index + 0.5, color="grey", linestyle="--", linewidth=0.8)
        panels[0].annotate(phase, (index + 0.6, 1), xycoords=("data", "axes fraction"),
                           va="top", fontsize=8, color="grey")  # fmt: skip
    panels[0].set_ylabel("loss")
    panels[1].set_ylabel("validation score")
    panels[1].set_ylim(-0.02, 1.02)
    panels[1].set_xlabel("epoch (dashed: a phase begins)")
    for axes in panels:
        axes.legend(fontsize=8)
        axes.grid(alpha=0.3)
    if title:
        figure.suptitle(title)
    atomic_write(path, lambda tmp: figure.savefig(tmp, dpi=100), suffix=".png")
    return {"path": path, "lines": lines, "phase_starts": starts}
