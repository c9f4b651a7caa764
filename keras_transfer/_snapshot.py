"""Private: save the values of Keras variables and put them back, exactly.

The one way keras-transfer saves variable values to restore them later
(`lr_find` after its range test, `Tent.reset`, `merge_lora`'s copy):
host (NumPy) copies, never a reference to the variable's buffer, since the
JAX trainer donates the buffers of the variables it updates (a kept
`variable.value` may be deleted by the next step) and a torch tensor is
updated in place.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import keras
import numpy as np


def snapshot(variables: Iterable[keras.Variable | object]) -> list[np.ndarray]:
    """Host copies of the current values of `variables`, in their order.

    Args:
        variables: Keras variables (any dtype, trainable or not), or tensors
            (a torch tensor that requires grad is detached first).

    Returns:
        One new NumPy array per variable, sharing no memory with it.

    Example:

    >>> v = keras.Variable([1.0, 2.0])
    >>> saved = snapshot([v])
    >>> _ = v.assign([5.0, 6.0])
    >>> restore([v], saved)
    >>> keras.ops.convert_to_numpy(v).tolist()
    [1.0, 2.0]
    """
    return [
        np.array(keras.ops.convert_to_numpy(keras.ops.stop_gradient(v)), copy=True)
        for v in variables
    ]


def restore(variables: Sequence[keras.Variable], values: Sequence[object]) -> None:
    """Assigns `values[i]` to `variables[i]`, cast to the variable's dtype.

    Args:
        variables: Keras variables.
        values: one array (a `snapshot`, or any value `variable.assign`
            takes) per variable, of the variable's shape.

    Raises:
        ValueError: if the two lists differ in length (nothing is assigned),
            or a value's shape differs from its variable's (Keras's own
            `assign` check).
    """
    variables, values = list(variables), list(values)
    if len(variables) != len(values):
        raise ValueError(
            "`values` must hold one value per variable. Received: "
            f"{len(variables)} variables and {len(values)} values"
        )
    for variable, value in zip(variables, values, strict=True):
        variable.assign(value)
