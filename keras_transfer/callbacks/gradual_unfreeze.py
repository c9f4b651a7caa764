"""`GradualUnfreeze`: ULMFiT-style gradual unfreezing inside one `fit()`."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Mapping, Sequence

import keras

from keras_transfer import _keras_internals, _trainability
from keras_transfer._layers import walk
from keras_transfer.grouping import LayerGroup, layer_groups
from keras_transfer.layers.stateful_backbone import record_run_start, restore_run_start

STATE_ATTRIBUTE = "gradual_unfreeze_state"


class _RunState:
    """What `model.gradual_unfreeze_state` holds while a fit unfreezes it."""

    __slots__ = ("original", "left")

    def __init__(self, original: tuple, left: tuple) -> None:
        self.original = original  # flags when the run started
        self.left = left  # flags the latest stage set


@keras.saving.register_keras_serializable(package="keras_transfer")
class GradualUnfreeze(keras.callbacks.Callback):
    """Unfreezes a frozen backbone one layer group at a time, top group first.

    The ULMFiT recipe (Howard & Ruder, 2018) inside one `model.fit()`: the
    first epochs train only what was trainable when `fit` started (the new
    head), then each stage unfreezes the next frozen group of
    `keras_transfer.layer_groups(model)`, nearest the output first, until
    everything is trainable. At each stage the train function is re-traced
    (one recompile per stage with `jit_compile=True`), the optimizer keeps the
    state (moments, `iterations`) of variables that were already trainable and
    gets fresh state for the new ones. No recompile by the user.

    The stage is a function of the epoch number only, so a run restarted with
    `keras.callbacks.BackupAndRestore` or `fit(initial_epoch=k)` continues at
    the right stage; list it before `BackupAndRestore` so that the optimizer
    state saved at a later stage is restored too. A model reloaded with
    `keras.models.load_model` continues likewise when its backbone is
    wrapped in `keras_transfer.layers.stateful_backbone.StatefulBackbone`
    (which saves the flags the run began with). The stage (`unfreeze_stage`) and the number of trainable
    variables (`trainable_weights`) are added to the epoch `logs`, hence to
    `History`.

    BatchNormalization layers of unfrozen groups stay in inference mode with
    their moving statistics untouched by default (as the Keras
    transfer-learning guide advises: `base(x, training=False)` alone does not
    keep them frozen once unfrozen).

    The callback keeps its plan on itself (reset in `on_train_begin`). While
    a `fit` runs, the model carries `model.gradual_unfreeze_state`: the
    trainable flags it had when the run started and those of the current
    stage. `on_train_end` removes it, so a later `fit` with a fresh
    `GradualUnfreeze` on the model a finished run unfroze warns that there is
    nothing to unfreeze and changes nothing. A `fit` that stopped with an
    exception leaves it, so a restarted `fit` on the same model object (in
    the same process, e.g. with `BackupAndRestore`) starts again from the
    original flags, as a rebuilt model in a new process would.

    Stage lines are printed like Keras's own progress output:
    `keras.utils.disable_interactive_logging()` sends them to the `logging`
    module (logger `"keras_transfer"`, level INFO) instead of stdout.

    Args:
        groups: the groups to unfreeze, top first: `None` for
            `keras_transfer.layer_groups(model)`, a list of `LayerGroup`
            (e.g. from `layer_groups(model, spec)`; `get_config` writes them
            as a spec of layer names), or a `spec` as `layer_groups` takes (a
            dict `{name: [layer names]}` or a list of layer names / lists of
            names). Only groups with frozen layers at
            the start of `fit` take part. Defaults to `None`.
        epochs_per_stage: epochs between two unfreezing stages. Defaults
            to `1`.
        start_epoch: epoch at which the first frozen group is unfrozen;
            epochs before it train only what was trainable. Defaults to `1`.
        batchnorm: what happens to BatchNormalization layers in unfrozen
            groups: `"frozen"` (inference mode, nothing trained), `"affine"`
            (gamma and beta trained, still inference mode, moving statistics
            untouched) or `"train"` (trainable like any layer: batch
            statistics in training, moving statistics updated). Defaults to
            `"frozen"`.
        verbose: `1` prints a line at each stage, `0` is silent. Defaults
            to `1`.

    Example:

    >>> import numpy as np
    >>> import keras
    >>> import keras_transfer as kt
    >>> backbone = keras.Sequential(
    ...     [keras.Input((8,)), keras.layers.Dense(8, name="block1_dense"),
    ...      keras.layers.Dense(8, name="block2_dense")], name="backbone")
    >>> backbone.trainable = False
    >>> model = keras.Sequential([backbone, keras.layers.Dense(1, name="head")])
    >>> model.compile(optimizer="adam", loss="mse")
    >>> x, y = np.ones((16, 8)), np.ones((16, 1))
    >>> history = model.fit(x, y, epochs=3, verbose=0,
    ...                     callbacks=[kt.callbacks.GradualUnfreeze(verbose=0)])
    >>> history.history["unfreeze_stage"]
    [0, 1, 2]
    >>> history.history["trainable_weights"]
    [2, 4, 6]
    """

    def __init__(
        self,
        groups: Mapping | Sequence | None = None,
        epochs_per_stage: int = 1,
        start_epoch: int = 1,
        batchnorm: str = "frozen",
        verbose: int = 1,
    ):
        super().__init__()
        if groups is not None and (
            isinstance(groups, str) or not isinstance(groups, (Mapping, Sequence))
        ):
            raise TypeError(
                "`groups` must be None (automatic layer groups), a list of "
                "`LayerGroup`, a dict "
                "{group_name: [layer names]} or a list of layer names / lists of "
                f"layer names, top group first. Received: groups={groups!r}"
            )
        for name, value, low in (
            ("epochs_per_stage", epochs_per_stage, 1),
            ("start_epoch", start_epoch, 0),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(
                    f"`{name}` must be an integer >= {low}. Received: {name}={value!r}"
                )
        if batchnorm not in _trainability.BATCHNORM_MODES:
            raise ValueError(
                f"`batchnorm` must be one of {_trainability.BATCHNORM_MODES}. "
                f"Received: batchnorm={batchnorm!r}"
            )
        self.groups = groups
        self.epochs_per_stage = epochs_per_stage
        self.start_epoch = start_epoch
        self.batchnorm = batchnorm
        self.verbose = int(verbose)
        self._plan: list[tuple[str, list[keras.Layer]]] = []
        self._original = None
        self._stage = None

    @property
    def num_stages(self) -> int:
        """Number of unfreezing stages planned at the start of `fit` (0 before)."""
        return len(self._plan)

    def stage_for_epoch(self, epoch: int) -> int:
        """The stage (number of groups unfrozen) in effect during `epoch`."""
        if epoch < self.start_epoch:
            return 0
        stage = (epoch - self.start_epoch) // self.epochs_per_stage + 1
        return min(stage, len(self._plan))

    def on_train_begin(self, logs: dict | None = None) -> None:
        model = self.model
        self._plan, self._original, self._stage = [], None, None
        if getattr(model, "optimizer", None) is not None:  # hook left by a failed fit
            _keras_internals.unhook_optimizer_loading(model.optimizer)
        groups = _layer_groups(model, self.groups)
        current = _trainability.snapshot(model)
        previous = getattr(model, STATE_ATTRIBUTE, None)
        if isinstance(previous, _RunState) and _trainability.flags(
            previous.left
        ) == _trainability.flags(current):
            # A run of ours stopped with an exception and left the model so.
            _trainability.restore(previous.original)
            current = previous.original
        elif restore_run_start(model):
            # Reloaded (`load_model`) with the flags its run began with.
            current = _trainability.snapshot(model)
        record_run_start(model)
        self._original = current
        self._plan = []
        for group in groups:
            units = [u for u in group.layers if self._needs_unfreezing(u)]
            if units:
                self._plan.append((group.name, units))
        self._stage = None
        if self._plan and model.optimizer is not None:
            self._hook_optimizer_loading(model.optimizer)
        if not self._plan:
            warnings.warn(
                "GradualUnfreeze has nothing to do: no layer group of model "
                f"{model.name!r} has frozen layers, so the whole model trains from "
                "the first epoch. HINT: freeze the pretrained part before `fit`, "
                "e.g. `backbone.trainable = False`.",
                stacklevel=2,
            )

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None:
            _keras_internals.unhook_optimizer_loading(optimizer)
        if not self._plan:
            return
        stage = self.stage_for_epoch(epoch)
        if stage == self._stage:
            return
        self._apply(stage)
        if self.verbose and stage:
            params = sum(int(keras.ops.size(w)) for w in self.model.trainable_weights)
            _print_msg(
                f"GradualUnfreeze: epoch {epoch + 1}: stage {stage}/{len(self._plan)}: "
                f"unfroze {self._plan[stage - 1][0]!r} "
                f"({len(self.model.trainable_weights)} trainable weights, "
                f"{params:,} params)."
            )

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self._plan and logs is not None:
            logs["unfreeze_stage"] = self._stage
            logs["trainable_weights"] = len(self.model.trainable_weights)

    def on_train_end(self, logs: dict | None = None) -> None:
        model = self.model
        if getattr(model, "optimizer", None) is not None:
            _keras_internals.unhook_optimizer_loading(model.optimizer)
        if isinstance(getattr(model, STATE_ATTRIBUTE, None), _RunState):
            delattr(model, STATE_ATTRIBUTE)

    def _needs_unfreezing(self, unit: keras.Layer) -> bool:
        for layer in walk(unit):
            if not layer.weights:
                continue
            if not isinstance(layer, keras.layers.BatchNormalization):
                if not layer.trainable:
                    return True
            elif self.batchnorm == "train" and not layer.trainable:
                return True
            elif self.batchnorm == "affine" and not layer.trainable:
                stats = {id(layer.moving_mean), id(layer.moving_variance)}
                if any(not v.trainable for v in layer.weights if id(v) not in stats):
                    return True
        return False

    def _apply(self, stage: int) -> None:
        """Sets the flags of `stage` from the original ones, then re-traces."""
        model = self.model
        _trainability.restore(self._original)
        for _, units in self._plan[:stage]:
            for unit in units:
                _trainability.unfreeze(model, unit, self.batchnorm)
        setattr(
            model,
            STATE_ATTRIBUTE,
            _RunState(self._original, _trainability.snapshot(model)),
        )
        self._stage = stage
        if model.optimizer is not None:
            with _strategy_scope(model):
                _keras_internals.sync_optimizer(
                    model.optimizer, model.trainable_variables
                )
        model.make_train_function(force=True)

    def _hook_optimizer_loading(self, optimizer: keras.optimizers.Optimizer) -> None:
        """Lets a backup taken at a later stage restore the optimizer state.

        The optimizer has state for the variables of one stage; Keras skips
        loading a saved optimizer whose number of variables differs. Until the
        first epoch begins (while `BackupAndRestore.on_train_begin` loads), a
        load with another count first moves the model to the stage with that
        count. Needs this callback listed before `BackupAndRestore`.
        """

        def to_stage_with(wanted: int) -> None:
            if wanted == len(optimizer.variables):
                return
            for stage in range(len(self._plan) + 1):
                self._apply(stage)
                if len(optimizer.variables) == wanted:
                    return
            self._apply(0)

        _keras_internals.hook_optimizer_loading(optimizer, to_stage_with)

    def get_config(self) -> dict:
        groups = self.groups
        if _is_group_list(groups):  # as a spec: {group name: [layer names]}
            groups = {g.name: [layer.name for layer in g.layers] for g in groups}
        return {
            "groups": groups,
            "epochs_per_stage": self.epochs_per_stage,
            "start_epoch": self.start_epoch,
            "batchnorm": self.batchnorm,
            "verbose": self.verbose,
        }

    @classmethod
    def from_config(cls, config: dict) -> GradualUnfreeze:
        return cls(**config)


def _is_group_list(groups: object) -> bool:
    return (
        isinstance(groups, (list, tuple))
        and bool(groups)
        and all(isinstance(g, LayerGroup) for g in groups)
    )


def _layer_groups(model: keras.Model, groups: object) -> list[LayerGroup]:
    """`groups` when they are `LayerGroup`s, else `layer_groups(model, groups)`."""
    if _is_group_list(groups):
        return list(groups)
    return layer_groups(model, groups)


def _print_msg(message: str) -> None:
    """Prints as Keras's progress output does: stdout, else `logging` when silenced."""
    if keras.utils.is_interactive_logging_enabled():
        print(message, flush=True)
    else:
        logging.getLogger("keras_transfer").info(message)


def _strategy_scope(model: keras.Model) -> contextlib.AbstractContextManager:
    """The model's tf.distribute strategy scope (TF backend), else a no-op."""
    strategy = getattr(model, "distribute_strategy", None)
    scope = getattr(strategy, "scope", None)
    return scope() if scope is not None else contextlib.nullcontext()
