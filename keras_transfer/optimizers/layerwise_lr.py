"""`LayerwiseLR`: per-variable learning-rate multipliers for any Keras optimizer."""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable, Mapping, Sequence

import keras

from keras_transfer import _keras_internals
from keras_transfer.optimizers._group_optimizer import (
    eager_scope,
    make_group_optimizer,
    skip_next_load,
)
from keras_transfer.optimizers._multiplier_rules import (
    MultiplierRules,
    check_multiplier,
    decay_path_multipliers,
    format_table,
    same_weight,
)

Multipliers = (
    Mapping[str, float]
    | Sequence[tuple[str, float]]
    | Callable[[keras.Variable], float]
)


@keras.saving.register_keras_serializable(package="keras_transfer")
class LayerwiseLR(keras.optimizers.Optimizer):
    """Discriminative (layer-wise) learning rates for any Keras optimizer.

    Wraps an optimizer and multiplies its learning rate by a per-variable
    factor `m`: with SGD a variable moves by `lr * m * grad`; with Adam it
    moves exactly as under a separate Adam with learning rate `lr * m`;
    decoupled weight decay (AdamW, `weight_decay=`) uses the same `lr * m`.
    Gradients are never scaled (Adam would undo that). A variable with
    `m == 0` is not updated at all: it and its optimizer slots stay
    bit-identical.

    How: the wrapped optimizer updates the variables with `m == 1` (and holds
    the untouched state of those with `m == 0`); every other multiplier gets
    its own optimizer of the same class, built from the wrapped one's
    `get_config()` with the learning rate `lambda: base_learning_rate * m`,
    and updates only its group, through its own public `apply`. Nothing of
    the wrapped optimizer is patched, so this holds on every backend
    (TensorFlow, JAX, PyTorch, whose built-in optimizers update all
    variables in one fused call) and under `tf.distribute` and
    `keras.distribution`. All groups share the base rate and step count, so
    `learning_rate` reads and sets the wrapped optimizer's base rate:
    `ReduceLROnPlateau`, `LearningRateScheduler` and `LearningRateSchedule`s
    work unchanged. Each group's optimizer applies the wrapped optimizer's
    own clipping, gradient accumulation, EMA, loss-scale factor and
    `exclude_from_weight_decay` to its group; `global_clipnorm` therefore
    clips each group by its own norm when there is more than one group
    (identical to the wrapped optimizer alone when every multiplier is 1).
    Under `mixed_float16`, `compile()` wraps this optimizer in a
    `LossScaleOptimizer` as usual. Variables unfrozen later
    (`GradualUnfreeze`) get their multiplier and fresh state, and the state
    of the others is kept.

    Multipliers are looked up per variable in this order: the `multipliers`
    patterns, `re.search`ed in `variable.path` (first match wins); then the
    exact paths of `path_multipliers` (what `decay` resolves to); then 1.0.

    Args:
        optimizer: the optimizer to wrap: a `keras.optimizers.Optimizer`
            instance, or a name or config for `keras.optimizers.get`. Not a
            wrapper (`LossScaleOptimizer`, `MultiOptimizer`). Its class must
            round-trip through `get_config()` / `from_config()` (all Keras
            optimizers do).
        multipliers: dict of regular expression -> multiplier (float >= 0),
            a list of `(pattern, multiplier)` pairs, or a callable
            `variable -> multiplier` (a callable cannot be serialized).
            Defaults to `None` (no patterns).
        decay: geometric decay by depth: group `i` of
            `keras_transfer.layer_groups(model)` (top group first) gets
            `decay ** i`. Needs `model` or `groups`; resolved at construction
            into `path_multipliers`. ULMFiT uses `1 / 2.6`; BEiT-style layer
            decay is 0.65-0.85. Defaults to `None`.
        model: the built model whose layer groups `decay` uses, and whose
            weights the `multipliers` patterns are checked against (a warning
            names patterns matching none). Not stored in the config.
            Defaults to `None`.
        groups: instead of the automatic groups: a list of `LayerGroup`
            (e.g. `keras_transfer.layer_groups(model, spec)`), or a `spec`
            passed to `layer_groups` with `model`. Defaults to `None`.
        path_multipliers: dict of exact variable path -> multiplier,
            consulted after the patterns; a path also matches a variable whose
            path is a `/`-suffix of it (or the reverse). Defaults to `None`.
        variable_multipliers: `[path, multiplier]` of each variable the
            optimizer was built with, in build order. Written by `get_config`
            so that a reloaded `.keras` model, which Keras builds with the
            same variables but whose `variable.path`s may have lost the model
            name prefix, gets exactly the same multipliers. Used only when
            `build` gets as many variables with compatible paths. Defaults to
            `None`.
        warn_unmatched: warn at build time about a pattern that matches no
            variable being built. Defaults to `True`.
        name: the optimizer's name. Defaults to `None` (automatic).

    Example:

    ```python
    import keras
    import numpy as np
    from keras_transfer.optimizers import LayerwiseLR

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, name="body"),
                              keras.layers.Dense(1, name="head")])
    optimizer = LayerwiseLR(keras.optimizers.SGD(0.1), {"body": 0.5})
    model.compile(optimizer=optimizer, loss="mse")
    model.fit(np.ones((8, 3)), np.ones((8, 1)), epochs=1, verbose=0)
    print(optimizer.multiplier_table(model))  # body/* -> 0.5, head/* -> 1.0
    ```
    """

    # `keras_transfer._keras_internals.sync_optimizer` hands a changed
    # variable list to `build` (which keeps every group's state).
    builds_incrementally = True

    def __init__(
        self,
        optimizer: keras.optimizers.Optimizer | str | dict,
        multipliers: Multipliers | None = None,
        *,
        decay: float | None = None,
        model: keras.Model | None = None,
        groups: object = None,
        path_multipliers: Mapping[str, float] | None = None,
        variable_multipliers: Sequence[Sequence] | None = None,
        warn_unmatched: bool = True,
        name: str | None = None,
    ) -> None:
        optimizer = _check_optimizer(optimizer)
        super().__init__(learning_rate=0.0, name=name)
        self.inner_optimizer = optimizer
        self.decay = _check_decay(decay, multipliers, model, groups)
        self.warn_unmatched = bool(warn_unmatched)
        path_rules: dict[str, str] = {}
        if decay is not None:
            decayed, path_rules = decay_path_multipliers(
                decay, _resolve_groups(model, groups)
            )
            path_multipliers = {**decayed, **dict(path_multipliers or {})}
        self._rules = MultiplierRules(multipliers, path_multipliers, path_rules)
        self._checked_against_model = False
        if model is not None and self._rules.patterns:
            _check_model(model, "model")
            self._rules.warn_unmatched(model.weights, "weights of `model`")
            self._checked_against_model = True
        self._saved = _check_saved(variable_multipliers)
        # id(variable) -> (multiplier, rule) of every variable seen so far.
        self._applied: dict[int, tuple[float, str]] = {}
        # Multiplier -> its optimizer (not 0 or 1), sorted by multiplier so
        # that `variables` has the same order after a `.keras` reload.
        self._group_optimizers: dict[float, keras.optimizers.Optimizer] = {}

    # -- pass-through, as `keras.optimizers.LossScaleOptimizer` --------------

    @property
    def learning_rate(self) -> object:
        """The wrapped optimizer's base learning rate (before multipliers)."""
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, learning_rate: object) -> None:
        self.inner_optimizer.learning_rate = learning_rate

    @property
    def iterations(self) -> keras.Variable:
        """The wrapped optimizer's step counter (every group shares its count)."""
        return self.inner_optimizer.iterations

    @property
    def variables(self) -> list[keras.Variable]:
        """This wrapper's own variables, the wrapped optimizer's, then each group's."""
        variables = _keras_internals.own_optimizer_variables(self)
        variables += self.inner_optimizer.variables
        for optimizer in getattr(self, "_group_optimizers", {}).values():
            variables += optimizer.variables
        return variables

    @property
    def loss_scale_factor(self) -> float | None:
        """The wrapped optimizer's `loss_scale_factor` (set through to every group)."""
        inner = getattr(self, "inner_optimizer", None)
        return None if inner is None else inner.loss_scale_factor

    @loss_scale_factor.setter
    def loss_scale_factor(self, value: float | None) -> None:
        for optimizer in self._all_optimizers():
            optimizer.loss_scale_factor = value

    def scale_loss(self, loss: object) -> object:
        """Scales the loss as the wrapped optimizer would."""
        return self.inner_optimizer.scale_loss(loss)

    def exclude_from_weight_decay(
        self, var_list: list | None = None, var_names: list[str] | None = None
    ) -> None:
        """Excludes variables from weight decay, in every group (see Keras's)."""
        self.inner_optimizer.exclude_from_weight_decay(var_list, var_names)
        for optimizer in self._group_optimizers.values():
            _keras_internals.copy_weight_decay_exclusions(
                self.inner_optimizer, optimizer
            )

    def finalize_variable_values(self, var_list: list[keras.Variable]) -> None:
        """Lets each group's optimizer finalize (e.g. write its EMA weights)."""
        for optimizer in self._all_optimizers():
            members = _keras_internals.optimizer_variables_for(optimizer)
            if members:
                optimizer.finalize_variable_values(members)

    # -- building and applying ----------------------------------------------

    def build(self, var_list: list[keras.Variable]) -> None:
        """Builds each multiplier group's optimizer for `var_list`.

        May be called again with another list (variables unfrozen or frozen
        later): the state of the variables kept is kept bit-identical, new
        ones get fresh state, and a new multiplier gets its own optimizer
        whose step count starts at the shared one.
        """
        var_list = list(var_list)
        self._restore_saved(var_list)
        self._resolve(var_list)
        groups: dict[float, list[keras.Variable]] = {1.0: []}
        for variable in var_list:
            m = self._applied[id(variable)][0]
            groups.setdefault(1.0 if m == 0.0 else m, []).append(variable)
        inner = self.inner_optimizer
        with eager_scope(), _keras_internals.strategy_scope(inner):
            _keras_internals.sync_optimizer(inner, groups.pop(1.0))
            for m in groups:
                if m not in self._group_optimizers:
                    self._group_optimizers[m] = make_group_optimizer(inner, m)
            self._group_optimizers = dict(sorted(self._group_optimizers.items()))
            for m, optimizer in self._group_optimizers.items():
                _sync_group(inner, optimizer, groups.get(m, []))
        if self.built:
            _keras_internals.set_optimizer_variables_for(self, var_list)
        else:
            # The base `build` records the variables (the JAX path's
            # `stateless_apply` pairs values with them by position).
            super().build(var_list)
        if (
            self.warn_unmatched
            and not self._checked_against_model
            and self._rules.patterns
        ):
            self._rules.warn_unmatched(var_list, "variables being built")

    def apply(self, grads: list, trainable_variables: list | None = None) -> None:
        """Applies `grads`: each multiplier group through its own optimizer."""
        if not self.built:
            with keras.name_scope(self.name, caller=self):
                self.build(list(trainable_variables))
            self.built = True
        if trainable_variables is None:
            trainable_variables = self._built_with()
        by_optimizer: dict[int, tuple[list, list]] = {}
        for grad, variable in zip(grads, trainable_variables, strict=True):
            m = self._multiplier_of(variable)
            if m == 0.0 or grad is None:
                continue
            optimizer = self.inner_optimizer if m == 1.0 else self._group_optimizers[m]
            pair = by_optimizer.setdefault(id(optimizer), ([], []))
            pair[0].append(grad)
            pair[1].append(variable)
        # Every optimizer counts every step, as the wrapped one alone would
        # (schedules, bias corrections, accumulation and EMA read the count;
        # `build` starts them equal); the groups go first, so that they read
        # the base rate of this step.
        for optimizer in [*self._group_optimizers.values(), self.inner_optimizer]:
            if id(optimizer) in by_optimizer:
                optimizer.apply(*by_optimizer[id(optimizer)])
            else:
                _keras_internals.step_counter(optimizer).assign_add(1)

    def _built_with(self) -> list[keras.Variable]:
        return _keras_internals.optimizer_variables_for(self)

    def _all_optimizers(self) -> list[keras.optimizers.Optimizer]:
        # With defaults: the base `__init__` sets `loss_scale_factor` before
        # the wrapped optimizer is stored.
        inner = getattr(self, "inner_optimizer", None)
        groups = getattr(self, "_group_optimizers", {})
        return [] if inner is None else [inner, *groups.values()]

    def _restore_saved(self, var_list: list[keras.Variable]) -> None:
        saved = self._saved
        if (
            saved
            and len(saved) == len(var_list)
            and all(
                same_weight(path, _path(v))
                for (path, _), v in zip(saved, var_list, strict=True)
            )
        ):
            for (_, m), v in zip(saved, var_list, strict=True):
                self._applied.setdefault(id(v), (m, "saved with the model"))

    def _resolve(self, variables: list[keras.Variable]) -> None:
        for variable in variables:
            if id(variable) not in self._applied:
                self._applied[id(variable)] = self._rules.resolve(variable)

    def _multiplier_of(self, variable: keras.Variable) -> float:
        try:
            return self._applied[id(variable)][0]
        except KeyError:
            raise ValueError(
                f"LayerwiseLR has no multiplier for variable {_path(variable)!r}: it "
                "was not among the variables the optimizer was built with. HINT: "
                "after changing `trainable`, call `optimizer.build(model."
                "trainable_variables)` (it keeps the state of the others) and "
                "`model.make_train_function(force=True)` (GradualUnfreeze does both)."
            ) from None

    def resolved_multipliers(
        self, model_or_variables: keras.Layer | list | None = None
    ) -> dict[str, float]:
        """The multiplier of each variable, by path.

        Args:
            model_or_variables: a model or layer (its `trainable_weights`), a
                list of variables, or `None` for the variables this optimizer
                was built with. Defaults to `None`.

        Returns:
            A dict `{variable.path: multiplier}`.
        """
        return {path: m for path, m, _ in self._rows(model_or_variables)}

    def multiplier_table(
        self, model_or_variables: keras.Layer | list | None = None
    ) -> str:
        """A printable table: variable path, multiplier and the rule that set it.

        Args:
            model_or_variables: a model or layer (all its weights, frozen ones
                included), a list of variables, or `None` for the variables this
                optimizer was built with. Defaults to `None`.

        Returns:
            The table as a string; patterns matching no listed variable are
            named below it.
        """
        variables = self._variables_of(model_or_variables, all_weights=True)
        return format_table(
            self._rows(variables), self._rules.unmatched_patterns(variables)
        )

    def _variables_of(
        self, model_or_variables: object, all_weights: bool = False
    ) -> list:
        if model_or_variables is None:
            if not self.built:
                raise ValueError(
                    "LayerwiseLR is not built yet, so it has no variables to list. Pass "
                    "`model_or_variables` (a model or a list of variables), or build it "
                    "first. Received: model_or_variables=None"
                )
            return list(self._built_with())
        if isinstance(model_or_variables, keras.Layer):
            if all_weights:
                return list(model_or_variables.weights)
            return list(model_or_variables.trainable_weights)
        if isinstance(model_or_variables, (list, tuple)):
            return list(model_or_variables)
        raise TypeError(
            "`model_or_variables` must be a Keras model/layer, a list of variables or "
            f"None. Received: model_or_variables={model_or_variables!r}"
        )

    def _rows(self, model_or_variables: object) -> list[tuple[str, float, str]]:
        rows = []
        for variable in self._variables_of(model_or_variables):
            m, rule = self._applied.get(id(variable)) or self._rules.resolve(variable)
            rows.append((_path(variable), m, rule))
        return rows

    # -- loading a saved state -------------------------------------------------

    def load_own_variables(self, store: object) -> None:
        """Loads a saved optimizer state, also when the trainable set changed.

        As Keras's when the saved variables fit (same number, same shapes).
        Otherwise (the model was reloaded with other variables trainable,
        e.g. a keras-hub backbone not wrapped in `StatefulBackbone`): when
        every variable the optimizer was saved with is among those it is
        built with now, it is rebuilt on the saved ones, loads their state,
        and is rebuilt on the current ones (fresh state for the others);
        else nothing is loaded. Either way a warning says what happened.
        """
        if _fits(store, self.variables):
            _assign(store, self.variables)
            return
        current = list(self._built_with()) if self.built else []
        saved = self._saved_among(current)
        restored = False
        if saved is not None:
            # A load replaces the state: start over from the saved set, so
            # that the group optimizers are those it was saved with.
            self._applied, self._group_optimizers = {}, {}
            self.build(saved)
            if _fits(store, self.variables):
                _assign(store, self.variables)
                restored = True
            self.build(current)
        # The wrapped and group optimizers' own saved entries (loaded next by
        # Keras) describe the saved layout: this load already covered them.
        for optimizer in self._all_optimizers():
            skip_next_load(optimizer)
        if restored:
            warnings.warn(
                f"LayerwiseLR: the optimizer state was saved for {len(saved)} "
                f"trainable variables and the model now has {len(current)}: the "
                f"state of those {len(saved)} was restored, the other "
                f"{len(current) - len(saved)} start fresh. HINT: the model was "
                "reloaded with other layers trainable; wrap a keras-hub / keras-cv "
                "backbone in `keras_transfer.layers.stateful_backbone."
                "StatefulBackbone` to keep its trainable flags in the `.keras` file.",
                stacklevel=2,
            )
        else:
            warnings.warn(
                f"LayerwiseLR: skipped loading the saved optimizer state "
                f"({len(store.keys())} saved variables, {len(self.variables)} now; "
                f"built for {len(current)} trainable variables, saved for "
                f"{len(self._saved or [])}): it does not fit the variables being "
                "trained, so every variable starts with fresh state. HINT: the "
                "model was reloaded with other layers trainable; wrap a keras-hub "
                "/ keras-cv backbone in `keras_transfer.layers.stateful_backbone."
                "StatefulBackbone` to keep its trainable flags in the `.keras` file.",
                stacklevel=2,
            )

    def _saved_among(self, current: list[keras.Variable]) -> list | None:
        """The variables of `current` the optimizer was saved with, in saved order."""
        if not self._saved or len(self._saved) > len(current):
            return None
        found, used = [], set()
        for path, _ in self._saved:
            match = next(
                (
                    v
                    for v in current
                    if id(v) not in used and same_weight(path, _path(v))
                ),
                None,
            )
            if match is None:
                return None
            used.add(id(match))
            found.append(match)
        return found

    # -- serialization --------------------------------------------------------

    def get_config(self) -> dict:
        """The config: the wrapped optimizer's config and the resolved rules.

        `decay` is stored as already resolved into `path_multipliers` (the
        model is not part of a config), so the config holds plain data only.

        Raises:
            TypeError: if `multipliers` is a callable.
        """
        if self._rules.function is not None:
            raise TypeError(
                "LayerwiseLR with a callable `multipliers` cannot be serialized (a "
                "config holds plain data only). Use a dict of regular expressions, or "
                "the exact paths: `LayerwiseLR(optimizer, path_multipliers="
                "opt.resolved_multipliers(model))`. Received: multipliers="
                f"{self._rules.function!r}"
            )
        if self.built:
            saved = [[_path(v), self._applied[id(v)][0]] for v in self._built_with()]
        else:
            saved = self._saved
        return {
            "name": self.name,
            "optimizer": keras.saving.serialize_keras_object(self.inner_optimizer),
            "multipliers": dict(self._rules.patterns),
            "decay": None,
            "path_multipliers": dict(self._rules.paths),
            "variable_multipliers": saved,
            "warn_unmatched": self.warn_unmatched and not self._checked_against_model,
        }

    @classmethod
    def from_config(
        cls, config: dict, custom_objects: dict | None = None
    ) -> LayerwiseLR:
        """Rebuilds a `LayerwiseLR` (unbuilt) from `get_config()`."""
        config = copy.deepcopy(config)  # Keras's from_config edits nested configs
        config["optimizer"] = keras.saving.deserialize_keras_object(
            config["optimizer"], custom_objects=custom_objects
        )
        return cls(**config)


def _fits(store: object, variables: list[keras.Variable]) -> bool:
    """True when `store` holds one value of the right shape per variable."""
    return len(store.keys()) == len(variables) and all(
        tuple(store[str(i)].shape) == tuple(v.shape) for i, v in enumerate(variables)
    )


def _assign(store: object, variables: list[keras.Variable]) -> None:
    for i, variable in enumerate(variables):
        variable.assign(store[str(i)])


def _sync_group(
    inner: keras.optimizers.Optimizer,
    optimizer: keras.optimizers.Optimizer,
    members: list[keras.Variable],
) -> None:
    """Gives a group's optimizer state for `members` and the shared step count."""
    _keras_internals.sync_optimizer(optimizer, members)
    count = _keras_internals.step_counter(inner)
    # A copy: on JAX the two variables would otherwise share (and donate)
    # one buffer.
    _keras_internals.step_counter(optimizer).assign(keras.ops.copy(count))
    # Decoupled weight decay only where the wrapped optimizer decays a member
    # (torch's fused decay fails on a group whose members are all excluded).
    decays = any(_keras_internals.uses_weight_decay(inner, v) for v in members)
    optimizer.weight_decay = inner.weight_decay if decays else None


def _path(variable: object) -> str:
    return getattr(variable, "path", None) or variable.name


def _check_saved(saved: object) -> list[list] | None:
    if saved is None:
        return None
    if not isinstance(saved, (list, tuple)) or not all(
        isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str)
        for item in saved
    ):
        raise TypeError(
            "`variable_multipliers` must be a list of [variable path, multiplier] "
            f"pairs (as written by `get_config`). Received: variable_multipliers={saved!r}"
        )
    return [
        [path, check_multiplier(m, "variable_multipliers", path)] for path, m in saved
    ]


def _check_optimizer(optimizer: object) -> keras.optimizers.Optimizer:
    if isinstance(optimizer, (str, dict)):
        try:
            optimizer = keras.optimizers.get(optimizer)
        except ValueError as error:
            raise ValueError(
                f"`optimizer` could not be resolved by `keras.optimizers.get` ({error}). "
                f"Received: optimizer={optimizer!r}"
            ) from None
    if not isinstance(optimizer, keras.optimizers.Optimizer):
        raise TypeError(
            "`optimizer` must be a Keras optimizer instance (e.g. "
            "`keras.optimizers.Adam(1e-3)`) or its name. Received: "
            f"optimizer={optimizer!r} of type {type(optimizer).__name__}"
        )
    if (
        isinstance(optimizer, LayerwiseLR)
        or hasattr(optimizer, "inner_optimizer")
        or isinstance(optimizer, keras.optimizers.MultiOptimizer)
    ):
        raise TypeError(
            "`optimizer` must be a plain optimizer, not a wrapper: LayerwiseLR scales "
            "the learning rate inside the optimizer that updates the variables. Wrap "
            "the base optimizer; `compile()` adds loss scaling around LayerwiseLR under "
            "mixed precision; merge multipliers into one LayerwiseLR. Received: "
            f"optimizer={optimizer!r} of type {type(optimizer).__name__}"
        )
    return optimizer


def _check_decay(
    decay: object, multipliers: object, model: object, groups: object
) -> object:
    if decay is None:
        if groups is not None:
            raise ValueError(
                "`groups` is only used with `decay`; pass `decay=` too. "
                f"Received: decay=None, groups={groups!r}"
            )
        return None
    if (
        isinstance(decay, bool)
        or not isinstance(decay, (int, float))
        or not (math.isfinite(decay) and decay >= 0)
    ):
        raise ValueError(
            "`decay` must be a finite float >= 0 (each group one step further from the "
            f"output gets `decay` times the rate of the one above). Received: decay={decay!r}"
        )
    if model is None and not _is_group_list(groups):
        raise ValueError(
            "`decay` needs the model's layer groups: pass `model=` (a built model; its "
            "`keras_transfer.layer_groups(model)` are used) or `groups=` (a list of "
            f"`LayerGroup`). Received: decay={decay!r}, model=None, groups={groups!r}"
        )
    if callable(multipliers) and not isinstance(multipliers, Mapping):
        raise ValueError(
            "`decay` cannot be combined with a callable `multipliers` (the callable "
            "decides every variable). Use a dict of patterns, or fold the decay into "
            f"the callable. Received: decay={decay!r}, multipliers={multipliers!r}"
        )
    if decay > 1:
        warnings.warn(
            f"LayerwiseLR: decay={decay} > 1 gives LOWER layers LARGER learning rates. "
            "HINT: discriminative fine-tuning uses decay < 1 (ULMFiT 1/2.6, layer "
            "decay 0.65-0.85).",
            stacklevel=3,
        )
    return float(decay)


def _is_group_list(groups: object) -> bool:
    return (
        isinstance(groups, (list, tuple))
        and bool(groups)
        and all(hasattr(g, "weights") and hasattr(g, "name") for g in groups)
    )


def _check_model(model: object, arg: str) -> None:
    if not isinstance(model, keras.Layer):
        raise TypeError(
            f"`{arg}` must be a built Keras model. "
            f"Received: {arg}={model!r} of type {type(model).__name__}"
        )


def _resolve_groups(model: object, groups: object) -> list:
    if _is_group_list(groups):
        return list(groups)
    _check_model(model, "model")
    from keras_transfer.grouping import layer_groups

    return layer_groups(model, spec=groups)
