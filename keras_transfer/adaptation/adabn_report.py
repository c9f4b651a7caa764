"""`AdaBNReport`: what `adapt_batchnorm` did."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class AdaBNReport:
    """What `keras_transfer.adapt_batchnorm` changed, returned by it.

    Attributes:
        layers: names of the BatchNormalization layers whose `moving_mean` and
            `moving_variance` were replaced, in the order they were adapted
            (nested layers as `"backbone/bn1"`).
        batches: batches read per pass over `data`.
        samples: samples read per pass over `data`.
        passes: passes over `data`, one per BatchNorm depth (a layer's
            statistics depend on the already adapted layers before it).
        skipped: layers holding BatchNorm statistics that could not be reached
            (a `HubBackbone`, a subclassed layer): left unchanged.

    Example:

    >>> report = AdaBNReport(layers=("bn",), batches=2, samples=64, passes=1)
    >>> print(report)
    AdaBN: 1 BatchNorm layer adapted on 64 samples (2 batches x 1 pass)
    """

    layers: tuple[str, ...]
    batches: int
    samples: int
    passes: int
    skipped: tuple[str, ...] = ()

    def __str__(self) -> str:
        plural = "" if len(self.layers) == 1 else "s"
        text = (
            f"AdaBN: {len(self.layers)} BatchNorm layer{plural} adapted on "
            f"{self.samples} samples ({self.batches} batches x {self.passes} "
            f"pass{'' if self.passes == 1 else 'es'})"
        )
        if self.skipped:
            text += f"; not reachable, unchanged: {', '.join(self.skipped)}"
        return text
