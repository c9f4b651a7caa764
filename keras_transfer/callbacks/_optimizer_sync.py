"""Keep a built optimizer's variable list equal to the model's trainable list.

`extend_optimizer_state` adds the variables it has not seen, in the given
order, but keeps those it knew and that are no longer given. The JAX
trainer pairs `optimizer.stateless_apply`'s `trainable_variables` with the
optimizer's own list by POSITION, so after unfreezing a group lower in the
model (whose variables come first in `model.trainable_variables`) the order
must match exactly (same variables, same order), or values land in the
wrong slots. That differs only when a restarted `fit` goes back to an earlier
stage on an optimizer that already knew more variables.
"""

from __future__ import annotations

import keras

from keras_transfer.optimizers._extend_state import (
    _rebuild_keeping_state,
    extend_optimizer_state,
)


def sync_optimizer(
    optimizer: keras.optimizers.Optimizer, variables: list[keras.Variable]
) -> list[keras.Variable]:
    """Gives `optimizer` state for exactly `variables`, in their order.

    State of variables the optimizer knew is kept (copied by path), new ones
    get fresh state, `iterations` is kept. Returns the new variables.
    """
    new = extend_optimizer_state(optimizer, variables)
    _reorder(optimizer, variables)
    return new


def _reorder(
    optimizer: keras.optimizers.Optimizer, variables: list[keras.Variable]
) -> None:
    if [id(v) for v in optimizer._trainable_variables] == [id(v) for v in variables]:
        return
    inner = getattr(optimizer, "inner_optimizer", None)
    if inner is None:
        given = {id(v) for v in variables}
        dropped = [v for v in optimizer._trainable_variables if id(v) not in given]
        _rebuild_keeping_state(optimizer, variables)
        _drop_slots(optimizer, dropped)
        return
    _reorder(inner, variables)
    # Through the instance dict, as `extend_optimizer_state` does: `setattr`
    # would make Keras's attribute tracking adopt the model variables.
    vars(optimizer)["_trainable_variables"] = list(variables)
    optimizer._trainable_variables_indices.clear()
    for i, variable in enumerate(variables):
        optimizer._trainable_variables_indices[optimizer._var_key(variable)] = i


def _drop_slots(
    optimizer: keras.optimizers.Optimizer, dropped: list[keras.Variable]
) -> None:
    """Deletes the per-variable state of variables the optimizer no longer has.

    Keras names every per-variable slot after its model variable
    (`add_variable_from_reference`: `<variable path with _>_<slot name>`);
    `iterations`, the learning rate and other global state are kept.
    """
    prefixes = tuple(v.path.replace("/", "_") + "_" for v in dropped)
    if not prefixes:
        return
    for i in reversed(range(len(optimizer._variables))):
        if optimizer._variables[i].name.startswith(prefixes):
            del optimizer._variables[i]
