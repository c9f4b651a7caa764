"""`RankingResult`: what `rank_backbones` returns, as a table and a recommendation."""

from __future__ import annotations

import dataclasses

import numpy as np

# Score key -> column title; every score is "higher is better".
SCORE_TITLES = {
    "knn": "kNN acc",
    "linear_probe": "linear probe acc",
    "logme": "LogME",
    "hscore": "H-score",
    "imagenet_top1": "ImageNet top-1",
}


def _cell(value: object, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


@dataclasses.dataclass
class RankingResult:
    """What `rank_backbones` returns.

    Attributes:
        table: one dict per candidate, in the order given: `name`,
            `description`, `status` (`"ok"` or `"failed"`), `error` (the
            exception's type and message, or None), `scores` (`knn`,
            `linear_probe`, `logme`, `hscore`, `imagenet_top1`; None where
            not available), `ranks` (per score, 1 = best, among the
            candidates that ran), `imagenet_top1_source`, `feature_dim`,
            `feature_scale` (mean absolute value), `feature_megabytes`, `seconds` (`load`, `extract`, `score`,
            `total`) and `extraction` (policy and XLA used).
        recommended: the name of the recommended candidate, or None when
            none ran.
        rule: how it was chosen, in words.
        settings: the data and scoring settings (`num_images`,
            `num_classes`, `class_counts`, `image_shape`, `folds`, `k`,
            `rule`, `seed`).
        features: candidate name -> its pooled features `(n, dim)` (float32),
            for a head trained on them without a second extraction.
    """

    table: list
    recommended: str | None
    rule: str
    settings: dict
    features: dict = dataclasses.field(default_factory=dict, repr=False)

    def row(self, name: str) -> dict:
        """The table row of candidate `name`.

        Args:
            name: a candidate's name as in `table`.

        Returns:
            The row (a dict).
        """
        for row in self.table:
            if row["name"] == name:
                return row
        raise KeyError(
            f"`name` must be one of the ranked candidates {[r['name'] for r in self.table]}. "
            f"Received: name={name!r}"
        )

    def as_dict(self) -> dict:
        """The table, recommendation, rule and settings (JSON-ready; no features)."""
        return {
            "recommended": self.recommended,
            "rule": self.rule,
            "settings": self.settings,
            "candidates": self.table,
        }

    def to_markdown(self) -> str:
        """A markdown table, best first by the rule's score, failed candidates last."""
        rule_key = self.settings["rule"]
        order = sorted(
            self.table,
            key=lambda r: (r["status"] != "ok", r["ranks"].get(rule_key) or np.inf),
        )
        titles = list(SCORE_TITLES.values())
        lines = [
            f"| # | candidate | {' | '.join(titles)} | dim | seconds | note |",
            "|" + " --- |" * (len(titles) + 5),
        ]
        for position, row in enumerate(order, start=1):
            if row["status"] != "ok":
                cells = ["-"] * (len(titles) + 2)
                lines.append(
                    f"| - | {row['name']} | {' | '.join(cells)} | failed: "
                    f"{row['error'].replace('|', '/')[:200]} |"
                )
                continue
            scores = [
                _cell(row["scores"][key], 4 if key in ("logme", "hscore") else 3)
                for key in SCORE_TITLES
            ]
            note = "recommended" if row["name"] == self.recommended else ""
            lines.append(
                f"| {position} | {row['name']} | {' | '.join(scores)} | {row['feature_dim']} "
                f"| {row['seconds']['total']:.1f} | {note} |"
            )
        return "\n".join(lines) + "\n"
