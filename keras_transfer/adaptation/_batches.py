"""Re-iterable NumPy input batches from arrays, tuples or a `tf.data.Dataset`.

Used by `adapt_batchnorm` (one pass per BatchNorm depth) and
`label_free_score`. Labels and sample weights are dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import keras
import numpy as np

from keras_transfer._validate import check_int


def _is_dataset(data: Any) -> bool:
    return type(data).__module__.startswith("tensorflow") and hasattr(
        data, "element_spec"
    )


def _x_of(element: Any) -> Any:
    if isinstance(element, (tuple, list)) and not isinstance(element, np.ndarray):
        return keras.utils.unpack_x_y_sample_weight(tuple(element))[0]
    return element


def _length(x: Any) -> int:
    return int(keras.tree.flatten(x)[0].shape[0])


def batch_source(
    data: Any, batch_size: int, steps: int | None
) -> Callable[[], Iterator[Any]]:
    """Returns a function that yields the x part of `data` as NumPy batches.

    Args:
        data: an array (or a dict / list of arrays for a multi-input model), a
            tuple `(x,)`, `(x, y)` or `(x, y, sample_weight)` of those, a
            `tf.data.Dataset` of batches (x or (x, y[, w])), or any other
            iterable of batches (consumed once and kept in memory).
        batch_size: rows per batch for array data.
        steps: at most this many batches; `None` for all.
    """
    check_int("steps", steps, 1, allow_none=True)
    check_int("batch_size", batch_size, 1)
    if _is_dataset(data):
        cardinality = int(data.cardinality())
        if cardinality == -1 and steps is None:  # tf.data.INFINITE_CARDINALITY
            raise ValueError(
                "`data` is an infinite tf.data.Dataset (it repeats). HINT: pass "
                "`steps=` or drop `.repeat()`. Received: steps=None"
            )

        def from_dataset() -> Iterator[Any]:
            dataset = data.take(steps) if steps is not None else data
            for element in dataset:
                yield keras.tree.map_structure(np.asarray, _x_of(element))

        return from_dataset

    if isinstance(data, (np.ndarray, tuple, dict)) or hasattr(data, "shape"):
        x = keras.tree.map_structure(np.asarray, _x_of(data))
        n = _length(x)
        if steps is not None:
            n = min(n, steps * batch_size)

        def from_arrays() -> Iterator[Any]:
            for start in range(0, n, batch_size):
                rows = slice(start, min(start + batch_size, n))
                yield keras.tree.map_structure(lambda a, rows=rows: a[rows], x)

        return from_arrays

    if isinstance(data, list) and data and all(hasattr(a, "shape") for a in data):
        return batch_source(tuple([data]), batch_size, steps)  # multi-input x
    try:
        iterator = iter(data)
    except TypeError:
        raise TypeError(
            "`data` must be arrays, a tuple (x, y), a tf.data.Dataset or an "
            f"iterable of batches. Received: data of type {type(data).__name__}"
        ) from None
    cached = []
    for element in iterator:
        if steps is not None and len(cached) >= steps:
            break
        cached.append(keras.tree.map_structure(np.asarray, _x_of(element)))
    return lambda: iter(cached)
