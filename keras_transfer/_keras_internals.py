"""The one module that touches private Keras attributes.

Keras 3 has no public API for a few things this package must do (walk every
sub-layer of a layer, grow a built optimizer's state when variables are
unfrozen later, re-run a functional graph). Each such use lives here, as a
small function whose docstring says what Keras does today, and
`tests/test_keras_internals.py` has a test per function that fails loudly
when a Keras release changes the behaviour it relies on. Nothing outside this
module may import `keras.src` or read or write a `keras` object's `_private`
attribute: `tests/test_private_keras.py` reads every module, test and
benchmark and fails, with `file:line`, on any that does.

Tested against the Keras version in README's "Tests"; `KT_KERAS_LATEST=1 bash
scripts/test.sh` runs the suite against the newest Keras release.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import keras

# --- Layers: walking nested layers, functional graphs ----------------------


def tracked_sublayers(layer: keras.Layer) -> list[keras.Layer]:
    """The layers `layer` holds directly, in the order it tracked them.

    Keras today: a `Layer` records every layer assigned to one of its
    attributes (directly or inside a list, tuple or dict) in `layer._layers`
    through its `Tracker`, and `layer._flatten_layers(include_self=False,
    recursive=False)` returns them, each once. `keras.Model.layers` is this
    list for models (Sequential leaves out its `InputLayer`), but a plain layer
    that holds layers (a keras-hub transformer block, a custom residual block)
    has no public equivalent. Use `keras_transfer._layers.walk` instead of
    calling this directly.
    """
    return list(layer._flatten_layers(include_self=False, recursive=False))


def call_outputs(layer: keras.Layer) -> list[list]:
    """The symbolic outputs of each call of `layer`, oldest call first.

    Keras today: each call of a layer on `KerasTensor`s (building a Functional
    graph) appends a `Node` to `layer._inbound_nodes`; `node.output_tensors`
    is the list of that call's outputs. For a functional model nested in
    another, `layer.output` is its own inner graph's output, not connected to
    the outer model's inputs: the node of its call in the outer graph is the
    only handle on the outer tensor.
    """
    return [list(node.output_tensors) for node in layer._inbound_nodes]


# --- Optimizers: state for variables that become trainable later -----------


def optimizer_variables_for(
    optimizer: keras.optimizers.Optimizer,
) -> list[keras.Variable]:
    """The model variables a built `optimizer` holds state for, in order.

    Keras today: `build(variables)` stores a copy of the list in
    `optimizer._trainable_variables`; the JAX trainer's `stateless_apply`
    pairs the trainable values it is given with this list by position.
    Empty for an unbuilt optimizer.
    """
    if not optimizer.built:
        return []
    return list(optimizer._trainable_variables)


def set_optimizer_variables_for(
    optimizer: keras.optimizers.Optimizer, variables: list[keras.Variable]
) -> None:
    """Makes a wrapper optimizer record `variables` as the ones it updates.

    For wrappers whose own state does not depend on the variables
    (`LossScaleOptimizer`, `LayerwiseLR`): Keras today keeps the list in
    `_trainable_variables` and a `{_var_key(v): position}` dict in
    `_trainable_variables_indices` (`apply(grads)` without variables checks
    its length). The list is written to the instance dict: `setattr` would make
    Keras's attribute tracking adopt the model variables as optimizer
    variables.
    """
    vars(optimizer)["_trainable_variables"] = list(variables)
    optimizer._trainable_variables_indices.clear()
    for i, variable in enumerate(variables):
        optimizer._trainable_variables_indices[optimizer._var_key(variable)] = i


def rebuild_keeping_state(
    optimizer: keras.optimizers.Optimizer, variables: list[keras.Variable]
) -> None:
    """Rebuilds a built plain optimizer on exactly `variables`, in their order.

    Keras today: `build` creates every per-variable state variable (slots,
    EMA averages, gradient accumulators) through `add_variable_from_reference`,
    named `<variable path with "/" -> "_">_<slot>`, appends it to
    `optimizer._variables` and resets its per-variable lists; `iterations` and
    the learning-rate variable are created in `__init__`, so a second `build`
    leaves them alone. Each old state variable is copied into its same-path
    twin and dropped; the state of variables not in `variables` is dropped.
    """
    before = list(optimizer._variables)
    before_ids = {id(v) for v in before}
    dropped = [
        v.path.replace("/", "_") + "_"
        for v in optimizer_variables_for(optimizer)
        if id(v) not in {id(w) for w in variables}
    ]
    optimizer._trainable_variables_indices.clear()
    optimizer.built = False
    optimizer.build(list(variables))
    optimizer.built = True
    created = {v.path: v for v in optimizer._variables if id(v) not in before_ids}
    stale = set()
    for old in before:
        twin = created.get(old.path)
        if twin is not None:
            twin.assign(old.value)
            stale.add(id(old))
        elif dropped and old.name.startswith(tuple(dropped)):
            stale.add(id(old))
    # In place (TensorFlow tracks this list); delete from the end.
    for i in reversed(range(len(optimizer._variables))):
        if id(optimizer._variables[i]) in stale:
            del optimizer._variables[i]


def sync_optimizer(
    optimizer: keras.optimizers.Optimizer, variables: list[keras.Variable]
) -> list[keras.Variable]:
    """Gives `optimizer` state for exactly `variables`, in their order.

    The one implementation used by `GradualUnfreeze` (between epochs) and
    `LayerwiseLR.build` (each multiplier group's optimizer). An unbuilt
    optimizer is built; a built one keeps the state of the variables it knew
    (bit-identical), gets fresh state (zeros, as a new optimizer) for new ones
    and drops the state of variables not given; `iterations` is kept. A
    wrapper with `inner_optimizer` (`LossScaleOptimizer`) is synced through
    its inner optimizer; an optimizer whose class sets
    `builds_incrementally = True` (`LayerwiseLR`) is given the list through
    its own `build`.

    Call it eagerly (in a callback, before `fit`), under the model's
    `tf.distribute` strategy scope if any, then re-make the train function
    (`model.make_train_function(force=True)`).

    Args:
        optimizer: a Keras optimizer, built or not.
        variables: the model variables it updates from now on.

    Returns:
        The variables that were new to the optimizer.
    """
    variables = list(variables)
    known = optimizer_variables_for(optimizer)
    known_ids = {id(v) for v in known}
    new = [v for v in variables if id(v) not in known_ids]
    if not optimizer.built:
        optimizer.build(variables)
        return new
    if [id(v) for v in known] == [id(v) for v in variables]:
        return new
    if getattr(type(optimizer), "builds_incrementally", False):
        optimizer.build(variables)
        return new
    inner = getattr(optimizer, "inner_optimizer", None)
    if inner is None:
        rebuild_keeping_state(optimizer, variables)
        return new
    sync_optimizer(inner, variables)
    set_optimizer_variables_for(optimizer, variables)
    return new


def own_optimizer_variables(
    optimizer: keras.optimizers.Optimizer,
) -> list[keras.Variable]:
    """The variables `optimizer` created itself, not those of one it wraps.

    Keras today: `Optimizer.add_variable` (called by `__init__` for
    `iterations` and a float learning rate, and by `build` for per-variable
    state) appends each variable to `optimizer._variables`, and the base
    `variables` property returns a copy of that list. A wrapper
    (`LossScaleOptimizer`) overrides `variables` as this list followed by the
    wrapped optimizer's `variables`, which is also the order its state is
    saved in; `LayerwiseLR` does the same.
    """
    return list(optimizer._variables)


def hook_optimizer_loading(
    optimizer: keras.optimizers.Optimizer, before_load: Callable[[int], None]
) -> None:
    """Calls `before_load(n)` before Keras loads `n` saved variables into `optimizer`.

    Lets a caller give the optimizer the saved number of variables first (the
    state of another `GradualUnfreeze` stage), so that the load is not skipped.
    Keras today: `model.load_weights` (so `BackupAndRestore` and
    `keras.saving.load_model` too) hands a saved optimizer's state to
    `optimizer.load_own_variables(store)`, looked up on the instance;
    `store.keys()` has one entry per saved variable and the base method
    assigns them to `optimizer.variables` by position, or skips the whole
    store with a warning when the counts differ. The hook is written to the
    instance dict (`setattr` would make Keras's attribute tracking see it), so
    it is never saved; hooking twice replaces the first hook.
    `unhook_optimizer_loading` removes it.
    """
    unhook_optimizer_loading(optimizer)
    load = optimizer.load_own_variables

    def load_own_variables(store: object) -> None:
        before_load(len(store.keys()))
        load(store)

    vars(optimizer)["load_own_variables"] = load_own_variables


def unhook_optimizer_loading(optimizer: keras.optimizers.Optimizer) -> None:
    """Removes the hook of `hook_optimizer_loading`, if any (Keras's load again)."""
    vars(optimizer).pop("load_own_variables", None)


def step_counter(optimizer: keras.optimizers.Optimizer) -> keras.Variable:
    """The variable `optimizer.apply` adds 1 to on every call.

    Keras today: `optimizer._iterations`; the public `iterations` is that
    variable, or (with `gradient_accumulation_steps`) a tensor dividing it,
    and schedules, Adam's bias correction, EMA and accumulation all read it.
    """
    return optimizer._iterations


def copy_weight_decay_exclusions(
    source: keras.optimizers.Optimizer, target: keras.optimizers.Optimizer
) -> None:
    """Makes `target` exclude from weight decay what `source` excludes.

    Keras today: `exclude_from_weight_decay(var_list, var_names)` stores a set
    of `_var_key`s in `_exclude_from_weight_decay` and a compiled pattern in
    `_exclude_from_weight_decay_pattern` (neither is in `get_config()`), and
    `_use_weight_decay` caches its answers in `_exclude_from_weight_decay_cache`.
    """
    state = vars(source)
    for name in ("_exclude_from_weight_decay", "_exclude_from_weight_decay_pattern"):
        if name in state:
            vars(target)[name] = state[name]
    vars(target)["_exclude_from_weight_decay_cache"] = {}


def strategy_scope(
    optimizer: keras.optimizers.Optimizer,
) -> contextlib.AbstractContextManager:
    """The scope of the `tf.distribute` strategy `optimizer` was created under.

    Keras today: on TensorFlow an optimizer stores
    `tf.distribute.get_strategy()` at construction in `_distribution_strategy`
    and creates its state variables under it; an optimizer created later (a
    `LayerwiseLR` group) must be created in the same scope. A no-op context on
    other backends.
    """
    strategy = getattr(optimizer, "_distribution_strategy", None)
    if strategy is None:
        return contextlib.nullcontext()
    import tensorflow as tf

    if strategy is tf.distribute.get_strategy():  # already in it, or the default
        return contextlib.nullcontext()
    return strategy.scope()


def uses_weight_decay(
    optimizer: keras.optimizers.Optimizer, variable: keras.Variable
) -> bool:
    """Whether `optimizer` decays `variable` (not excluded from weight decay).

    Keras today: `optimizer._use_weight_decay(variable)` answers from the
    `exclude_from_weight_decay` settings. The PyTorch backend's
    `_apply_weight_decay` fails on a call where every variable is excluded
    (`torch._foreach_mul_` of an empty list), so a `LayerwiseLR` group made
    only of excluded variables gets no weight decay at all.
    """
    return bool(optimizer._use_weight_decay(variable))
