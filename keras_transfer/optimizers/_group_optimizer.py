"""The optimizer of one `LayerwiseLR` multiplier group."""

from __future__ import annotations

import contextlib

import keras

from keras_transfer import _keras_internals
from keras_transfer._device import tensorflow_backend


def make_group_optimizer(
    inner: keras.optimizers.Optimizer, multiplier: float
) -> keras.optimizers.Optimizer:
    """A twin of `inner` whose learning rate is `inner.learning_rate * multiplier`.

    Built from `inner.get_config()` (same class, so on PyTorch the same fused
    `torch_*` optimizer), with the learning rate a callable that reads the
    wrapped optimizer's current rate or schedule value, so `LearningRateScheduler`,
    `ReduceLROnPlateau` and schedules drive every group. Created under the
    `tf.distribute` strategy `inner` was created under; inherits its
    `exclude_from_weight_decay` settings. Unbuilt.

    Args:
        inner: the optimizer `LayerwiseLR` wraps.
        multiplier: the group's learning-rate multiplier (not 0 or 1).

    Returns:
        The new optimizer.
    """
    config = inner.get_config()
    config["learning_rate"] = lambda: keras.ops.multiply(
        inner.learning_rate, multiplier
    )
    config["name"] = f"{inner.name}_x{multiplier:g}".replace(".", "_").replace("-", "m")
    with _keras_internals.strategy_scope(inner):
        try:
            optimizer = type(inner).from_config(config)
        except (TypeError, ValueError) as error:
            raise TypeError(
                f"LayerwiseLR builds one {type(inner).__name__} per multiplier from "
                "`optimizer.get_config()` with a scaled learning rate, and that "
                f"failed ({error}). Give the optimizer class a `get_config` that "
                "`from_config` accepts (all Keras optimizers have one). Received: "
                f"optimizer={inner!r}"
            ) from error
    _keras_internals.copy_weight_decay_exclusions(inner, optimizer)
    return optimizer


def eager_scope() -> contextlib.AbstractContextManager:
    """Eager execution while a train step is being traced (TensorFlow).

    Without a distribution strategy the TensorFlow trainer builds the
    optimizer inside the first traced train step, where `get_config()`
    cannot read the learning-rate variable and new state should be created
    once, eagerly: `tf.init_scope()` lifts out of the graph. A no-op context
    on other backends.
    """
    if not tensorflow_backend():
        return contextlib.nullcontext()
    import tensorflow as tf

    return tf.init_scope()


def skip_next_load(optimizer: keras.optimizers.Optimizer) -> None:
    """Makes the next `optimizer.load_own_variables(store)` do nothing, once.

    `LayerwiseLR` saves and loads the state of its wrapped and group
    optimizers itself (its `variables` holds theirs); Keras then visits each
    of them with its own saved entries, which describe the saved layout. When
    `LayerwiseLR` loaded into another layout, those entries must not be
    assigned. Written to the instance dict (not tracked, never saved); the
    method removes itself when called.
    """

    def load_own_variables(store: object) -> None:
        vars(optimizer).pop("load_own_variables", None)

    vars(optimizer)["load_own_variables"] = load_own_variables
