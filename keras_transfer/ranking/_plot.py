"""Private: the PNG of `keras-transfer rank`: each score and the time per candidate.

One bar panel per score (candidates in the table's order, the recommended one
highlighted, failed ones marked), and one panel with the seconds each
candidate took (load + extraction + scores). matplotlib is in the `demo`
extra; `require_matplotlib` says so before any work is done.
"""

from __future__ import annotations

from keras_transfer.ranking.ranking_result import SCORE_TITLES


def require_matplotlib() -> None:
    """Raises `ImportError` with the install hint when matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as error:
        raise ImportError(
            "the ranking plot needs matplotlib, which is not installed: "
            'pip install "keras-transfer[demo]" (or pip install matplotlib)'
        ) from error


def plot_ranking(report: dict, path: str) -> None:
    """Writes the PNG of a `RankingResult.as_dict()` report to `path`."""
    require_matplotlib()
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    rows = report["candidates"]
    names = [row["name"] for row in rows]
    panels = [*SCORE_TITLES.items(), ("seconds", "seconds (load + extract + score)")]
    figure, axes = plt.subplots(
        1,
        len(panels),
        figsize=(3.2 * len(panels), 1.2 + 0.45 * len(names)),
        sharey=True,
    )
    positions = range(len(names))
    for axis, (key, title) in zip(axes, panels):
        values, colours = [], []
        for row in rows:
            value = row["seconds"]["total"] if key == "seconds" else row["scores"][key]
            values.append(0.0 if value is None else value)
            colours.append(
                "lightgrey" if row["status"] != "ok"
                else "tab:orange" if row["name"] == report["recommended"] else "tab:blue"
            )  # fmt: skip
        axis.barh(positions, values, color=colours)
        for position, row, value in zip(positions, rows, values):
            label = (
                "failed"
                if row["status"] != "ok" and key != "seconds"
                else (
                    "-"
                    if (row["scores"].get(key) is None and key != "seconds")
                    else f"{value:.3g}"
                )
            )
            axis.annotate(label, (value, position), fontsize=7, va="center",
                          xytext=(2, 0), textcoords="offset points")  # fmt: skip
        axis.set_title(title, fontsize=9)
        axis.tick_params(labelsize=8)
    axes[0].set_yticks(list(positions), names)
    axes[0].invert_yaxis()
    figure.suptitle(
        f"rank_backbones: recommended {report['recommended']} ({report['rule']})",
        fontsize=9,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=100, format="png")
    plt.close(figure)
