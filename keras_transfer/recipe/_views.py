"""Private: the augmented views the recipe caches (exact flips of the image)."""

from __future__ import annotations

import numpy as np

# name -> the views of one image batch (n, h, w, c), identity first.
VIEWS = {
    "none": (lambda x: x,),
    "hflip": (lambda x: x, lambda x: x[:, :, ::-1]),
    "flips": (
        lambda x: x,
        lambda x: x[:, :, ::-1],
        lambda x: x[:, ::-1],
        lambda x: x[:, ::-1, ::-1],
    ),
}


def check_views(views: str) -> tuple:
    """The view functions of `views`, or a ValueError naming the choices."""
    if views not in VIEWS:
        raise ValueError(
            f"`views` must be one of {list(VIEWS)}: the augmented copies of each "
            "image whose activations are cached (flips are exact, no resampling). "
            f"Received: views={views!r}"
        )
    return VIEWS[views]


def view(x: np.ndarray, index: int, views: str) -> np.ndarray:
    """View `index` of images `x` (a contiguous copy, except the identity)."""
    out = VIEWS[views][index](x)
    return out if index == 0 else np.ascontiguousarray(out)
