"""Give a built Keras optimizer state for variables it has not seen yet.

Keras optimizers build their state (slots such as Adam's moments, EMA
averages, gradient accumulators) once, for the variables that were trainable
at the time; a variable unfrozen later raises "Unknown variable". Shared by
`GradualUnfreeze` (which unfreezes between epochs) and `LayerwiseLR` (whose
`build` can be called again with a superset).

The only route that keeps the existing state of every optimizer class without
knowing its slot layout: rebuild the optimizer on the superset (in the order of
the variables given, i.e. the model's), copy each old state variable into its same-path twin, and
drop the old copies. `iterations`, the learning-rate variable and anything
else created in `__init__` are not rebuilt, so they are kept as they are.
"""

from __future__ import annotations

from collections.abc import Iterable

import keras


def known_variable_ids(optimizer: keras.optimizers.Optimizer) -> set[int]:
    """Ids of the model variables `optimizer` holds state for (empty if unbuilt)."""
    if not optimizer.built:
        return set()
    return {id(v) for v in optimizer._trainable_variables}


def extend_optimizer_state(
    optimizer: keras.optimizers.Optimizer, variables: Iterable[keras.Variable]
) -> list[keras.Variable]:
    """Makes `optimizer` able to update every variable in `variables`.

    Builds an unbuilt optimizer on `variables`. On a built one, creates fresh
    state (zeros, as a new optimizer would) for the variables it does not know
    and keeps the state of those it knows bit-identical, including
    `iterations`. Wrappers that expose `inner_optimizer` (`LossScaleOptimizer`,
    `LayerwiseLR`) are extended through their inner optimizer.

    Must be called eagerly (between epochs, in a callback or before `fit`),
    not inside a traced train step; the train function must be re-made
    afterwards (`model.make_train_function(force=True)`).

    Args:
        optimizer: a Keras optimizer, built or not.
        variables: the model variables that may be updated from now on.

    Returns:
        The variables that were new to the optimizer.
    """
    variables = list(variables)
    if not optimizer.built:
        optimizer.build(variables)
        return variables
    known = known_variable_ids(optimizer)
    new = [v for v in variables if id(v) not in known]
    if not new:
        return []
    # In the order of `variables` (the model's order: the JAX trainer's
    # `stateless_apply` pairs values with `_trainable_variables` by position),
    # then any known variable not in `variables`.
    given = {id(v) for v in variables}
    superset = variables + [
        v for v in optimizer._trainable_variables if id(v) not in given
    ]
    inner = getattr(optimizer, "inner_optimizer", None)
    if inner is None:
        _rebuild_keeping_state(optimizer, superset)
        return new
    extend_optimizer_state(inner, superset)
    optimizer._trainable_variables_indices.clear()
    for i, variable in enumerate(superset):
        optimizer._trainable_variables_indices[optimizer._var_key(variable)] = i
    # Written to the instance dict: assigning through `setattr` would make
    # Keras's attribute tracking adopt the model variables as optimizer
    # variables (and the attribute may be a tuple, so not extended in place).
    vars(optimizer)["_trainable_variables"] = superset
    return new


def _rebuild_keeping_state(
    optimizer: keras.optimizers.Optimizer, superset: list[keras.Variable]
) -> None:
    before = list(optimizer._variables)
    before_ids = {id(v) for v in before}
    optimizer.built = False
    optimizer.build(superset)
    optimizer.built = True
    created = {v.path: v for v in optimizer._variables if id(v) not in before_ids}
    stale = set()
    for old in before:
        twin = created.get(old.path)
        if twin is not None:
            twin.assign(old.value)
            stale.add(id(old))
    # In place (TensorFlow tracks this list); delete from the end.
    for i in reversed(range(len(optimizer._variables))):
        if id(optimizer._variables[i]) in stale:
            del optimizer._variables[i]
