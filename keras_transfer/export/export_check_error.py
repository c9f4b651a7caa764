"""`ExportCheckError`: the exported artifact does not give the Keras model's answers."""

from __future__ import annotations


class ExportCheckError(ValueError):
    """The artifact's top-1 agreement with the Keras model is below `min_agreement`.

    Raised by `export_model` after it removed the artifact: nothing is left
    behind. `report` holds the whole export report, `report["check"]` the
    numbers (agreement, maximum probability difference, images used).
    """

    def __init__(self, message: str, report: dict) -> None:
        super().__init__(message)
        self.report = report
