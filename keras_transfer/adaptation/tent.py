"""`Tent`: test-time entropy minimisation with the stock `compile` + `fit`."""

from __future__ import annotations

import inspect
import warnings

import keras
import numpy as np

from keras_transfer import _trainability
from keras_transfer._layers import walk
from keras_transfer._normalization import hides_batchnorm, is_batchnorm
from keras_transfer._snapshot import restore, snapshot
from keras_transfer.adaptation._entropy import EntropyLoss, looks_like_probabilities
from keras_transfer.adaptation._inference_call import InferenceCall
from keras_transfer.adaptation._retrace import (
    Retracer,
    is_container,
    model_inputs,
)


def _has_training_arg(layer: keras.Layer) -> bool:
    return "training" in inspect.signature(layer.call).parameters


def _probe_from_logits(model: keras.Model, inputs: list) -> bool:
    rng = np.random.default_rng(0)
    sample = [
        rng.normal(size=(4,) + tuple(d or 1 for d in t.shape[1:])).astype(t.dtype)
        if "float" in str(t.dtype)
        else np.zeros((4,) + tuple(d or 1 for d in t.shape[1:]), t.dtype)
        for t in inputs
    ]
    y = model(sample if len(sample) > 1 else sample[0], training=False)
    return not looks_like_probabilities(
        keras.ops.convert_to_numpy(keras.tree.flatten(y)[0])
    )


class Tent:
    """TENT (Wang et al., ICLR 2021): adapt BatchNorm to target data by entropy.

    Fully test-time adaptation without labels: minimise the entropy of the
    model's predictions on target batches, training only the BatchNorm affine
    parameters (`gamma`, `beta`) while BatchNorm normalizes with the batch's
    own statistics. `Tent(model)` sets this up so that adaptation is the stock
    `compile` + `fit` (mixed precision, `jit_compile`, distribution keep
    working):

    - `tent.model` is a new `keras.Model` that shares `model`'s layers (so
      training it adapts `model`). In it every layer other than BatchNorm
      runs in inference mode even inside `fit()` (dropout and augmentation
      off), BatchNorm follows `fit()`'s `training=True` (batch statistics), and
      the mean prediction entropy is added with `add_loss`, so `fit()` needs
      no labels and `compile()` no loss.
    - every layer of `model` is made non-trainable except BatchNormalization
      layers (whose only trainable weights are `gamma` and `beta`).

    After adaptation, `model` predicts with its moving statistics; these were
    updated by BatchNorm's momentum during `fit()`. For exact target
    statistics matching the adapted `gamma`/`beta`, run
    `keras_transfer.adapt_batchnorm(model, target_data)` afterwards (running
    it before TENT as well is the usual AdaBN + TENT combination).

    Args:
        model: a built Functional or Sequential classifier with one output
            (softmax probabilities, logits, or one sigmoid / logit unit) and
            `keras.layers.BatchNormalization` layers.
        from_logits: whether the output is logits. Defaults to `None`: decided
            from one probe batch (rows that are probability vectors mean
            `False`).

    Example:

    >>> import keras, numpy as np
    >>> from keras_transfer.adaptation import Tent
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8),
    ...                           keras.layers.BatchNormalization(),
    ...                           keras.layers.Dropout(0.5), keras.layers.Dense(3)])
    >>> tent = Tent(model)
    >>> tent.model.compile(optimizer=keras.optimizers.Adam(1e-2))
    >>> x_target = np.random.default_rng(0).normal(2.0, 1.0, (64, 4))
    >>> history = tent.model.fit(x_target, batch_size=16, epochs=2, verbose=0)
    >>> history.history["loss"][-1] < history.history["loss"][0]
    True
    >>> tent.reset()    # episodic: back to the weights Tent started from
    >>> tent.restore()  # end: the original `trainable` flags
    """

    def __init__(self, model: keras.Model, from_logits: bool | None = None) -> None:
        if not isinstance(model, keras.Model):
            raise TypeError(
                "`model` must be a keras.Model. "
                f"Received: model of type {type(model).__name__}"
            )
        if from_logits is not None and not isinstance(from_logits, bool):
            raise TypeError(
                "`from_logits` must be True, False or None (detect). "
                f"Received: from_logits={from_logits!r}"
            )
        inputs = model_inputs(model)
        self.source_model = model
        self.from_logits = (
            _probe_from_logits(model, inputs) if from_logits is None else from_logits
        )
        batchnorms, opaque = [], []

        def leaf(layer: keras.Layer, args: tuple, kwargs: dict, depth: int) -> tuple:
            if is_batchnorm(layer):
                batchnorms.append(layer)
                return layer(*args, **kwargs), []
            if not is_container(layer) and hides_batchnorm(layer):
                opaque.append(layer.name)
            if _has_training_arg(layer):
                return InferenceCall(layer)(*args, **kwargs), []
            return layer(*args, **kwargs), []

        new_inputs, outputs, _ = Retracer(leaf).rebuild(model)
        if not batchnorms:
            raise ValueError(
                f"`model` {model.name!r} has no reachable BatchNormalization layer: "
                "TENT trains only BatchNorm affine parameters. "
                f"Received: model={model.name!r}"
            )
        if len(outputs) != 1:
            raise ValueError(
                "`model` must have exactly one output (the class prediction). "
                f"Received: model with {len(outputs)} outputs"
            )
        for name in dict.fromkeys(opaque):
            warnings.warn(
                f"Layer {name!r} hides BatchNorm layers that Tent cannot reach "
                "(HubBackbone or subclassed): it runs in inference mode and is not "
                "adapted. HINT: rebuild that part with Keras layers to adapt it.",
                stacklevel=2,
            )
        self.batchnorm_layers = list(dict.fromkeys(batchnorms))
        self._flags = _trainability.snapshot(model)
        model.trainable = True
        bn_ids = {id(layer) for layer in self.batchnorm_layers}
        for layer in walk(model, into=keras.Model):
            if not isinstance(layer, keras.Model):
                layer.trainable = id(layer) in bn_ids
        self._bn_weights = [v for layer in self.batchnorm_layers for v in layer.weights]
        self._bn_values = snapshot(self._bn_weights)
        self.model = keras.Model(
            new_inputs if len(new_inputs) > 1 else new_inputs[0],
            EntropyLoss(self.from_logits, name="entropy")(outputs[0]),
            name=f"{model.name}_tent",
        )

    def reset(self) -> None:
        """Episodic reset: BatchNorm weights and optimizer state as at `Tent(...)`.

        Restores every BatchNorm layer's `gamma`, `beta`, `moving_mean` and
        `moving_variance` to the values they had when `Tent` was created and,
        when `tent.model` has a built optimizer, sets its `iterations` and
        slot variables (momenta, second moments) to zero (inside a
        `LossScaleOptimizer`, only the inner optimizer's), which is a fresh
        state for SGD, momentum, Adam, AdamW, Nadam and RMSprop (Adagrad
        restarts from 0 instead of its `initial_accumulator_value`).
        """
        restore(self._bn_weights, self._bn_values)
        optimizer = getattr(self.model, "optimizer", None)
        while hasattr(optimizer, "inner_optimizer"):  # LossScaleOptimizer & co.
            optimizer = optimizer.inner_optimizer
        if optimizer is None or not getattr(optimizer, "built", False):
            return
        for variable in optimizer.variables:
            if variable.name != "learning_rate":
                variable.assign(keras.ops.zeros(variable.shape, variable.dtype))

    def restore(self) -> None:
        """Puts back every layer's original `trainable` flag (ends adaptation).

        Adapted weights are kept; call `reset()` first to drop them.
        """
        _trainability.restore(self._flags)
