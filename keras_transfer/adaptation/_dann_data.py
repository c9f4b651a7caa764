"""`dann_data`: source + target arrays in the layout `build_dann` models train on."""

from __future__ import annotations

from typing import Any

import numpy as np


def dann_data(x_source: Any, y_source: Any, x_target: Any) -> tuple[np.ndarray, dict]:
    """Stacks labelled source and unlabelled target rows for a DANN `fit()`.

    Args:
        x_source: source inputs, shape `(n_source, ...)`.
        y_source: integer source labels, shape `(n_source,)`.
        x_target: target inputs, shape `(n_target, ...)` (same per-sample shape).

    Returns:
        `(x, {"label": y, "domain": d})`: `x` is source then target rows, `y`
        the source labels then `-1` for every target row (ignored by
        `SparseCategoricalCrossentropy(ignore_class=-1)`), `d` is 0 for source
        and 1 for target (float32, shape `(n, 1)`). Shuffle in `fit()` (the
        default for arrays) so batches mix both domains.

    Example:

    >>> import numpy as np
    >>> from keras_transfer.adaptation import dann_data
    >>> x, y = dann_data(np.zeros((2, 3)), np.array([0, 1]), np.ones((1, 3)))
    >>> x.shape, y["label"].tolist(), y["domain"].ravel().tolist()
    ((3, 3), [0, 1, -1], [0.0, 0.0, 1.0])
    """
    xs, xt = np.asarray(x_source), np.asarray(x_target)
    ys = np.asarray(y_source)
    if xs.shape[1:] != xt.shape[1:]:
        raise ValueError(
            "`x_source` and `x_target` must have the same per-sample shape. "
            f"Received: x_source.shape={xs.shape}, x_target.shape={xt.shape}"
        )
    if ys.shape != (len(xs),) or not np.issubdtype(ys.dtype, np.integer):
        raise ValueError(
            "`y_source` must be integer labels of shape (n_source,). "
            f"Received: y_source with shape {ys.shape} and dtype {ys.dtype}"
        )
    if len(xs) == 0 or len(xt) == 0:
        raise ValueError(
            "`x_source` and `x_target` must not be empty. "
            f"Received: {len(xs)} source and {len(xt)} target rows"
        )
    x = np.concatenate([xs, xt.astype(xs.dtype)])
    label = np.concatenate([ys, np.full(len(xt), -1, ys.dtype)])
    domain = np.concatenate([np.zeros(len(xs)), np.ones(len(xt))]).astype("float32")
    return x, {"label": label, "domain": domain[:, None]}
