"""`StatefulBackbone`: a backbone whose fine-tuning state is saved with the model."""

from __future__ import annotations

import warnings
import weakref

import keras
import numpy as np

from keras_transfer import _trainability
from keras_transfer._layers import walk


@keras.saving.register_keras_serializable(package="keras_transfer")
class StatefulBackbone(keras.Layer):
    """Wraps a backbone so that a saved model reloads in its fine-tuning state.

    keras-hub and keras-cv backbones (and any subclassed layer) serialize as
    their constructor arguments: `keras.models.load_model` rebuilds them with
    every sublayer trainable and without LoRA adapters, whatever
    `GradualUnfreeze` or `enable_lora` had made of them. Wrapped in this
    layer, the `.keras` archive also records (in this layer's config) the
    `trainable` flag of every sublayer and weight, the LoRA rank and alpha of
    every adapted layer and, while a `GradualUnfreeze` run is under way, the
    flags it started from; and (in this layer's weights) the adapters and
    unmerged kernels of the adapted layers, which Keras alone saves merged
    and reloads as zero. `load_model` rebuilds the backbone and puts all of
    it back, before the optimizer is rebuilt, so the optimizer state saved
    with the model fits it. A `GradualUnfreeze` given to the next `fit` of the
    reloaded model continues at the stage of its epoch
    (`fit(initial_epoch=k)`), as a model kept in memory would.

    Calling the layer calls the backbone (`training` is passed on). The
    layer adds no weights; `keras_transfer.layer_groups` looks through it.
    In a new process, import this module (or `keras_transfer.callbacks`)
    before `load_model`, which registers the class.

    Args:
        layer: the backbone, a built Keras layer or model (a keras-hub or
            keras-cv backbone, any functional or subclassed model).
        state: the recorded fine-tuning state, as `get_config` writes it;
            applied to `layer`. Defaults to `None` (nothing to apply).
        **kwargs: base layer arguments (`name`, `trainable`, `dtype`).

    Call arguments:
        inputs: what the backbone takes (a tensor or a dict of tensors).
        training: passed to the backbone. Defaults to `None`.

    Example:

    ```python
    import os, tempfile
    import keras
    import keras_transfer as kt
    from keras_transfer.layers.stateful_backbone import StatefulBackbone

    body = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4, name="d1"),
                             keras.layers.Dense(4, name="d2")], name="body")
    backbone = StatefulBackbone(body)
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(1, name="head")(backbone(inputs)))
    body.layers[0].trainable = False
    path = os.path.join(tempfile.mkdtemp(), "m.keras")
    model.save(path)
    reloaded = keras.models.load_model(path)
    assert len(reloaded.trainable_weights) == len(model.trainable_weights) == 4
    ```
    """

    def __init__(self, layer: keras.Layer, state: dict | None = None, **kwargs) -> None:
        if not isinstance(layer, keras.Layer):
            raise TypeError(
                "`layer` must be a Keras layer or model (the backbone to wrap). "
                f"Received: layer={layer!r} of type {type(layer).__name__}"
            )
        if state is not None and not isinstance(state, dict):
            raise TypeError(
                "`state` must be a dict as written by `StatefulBackbone.get_config` "
                f"or None. Received: state={state!r}"
            )
        super().__init__(**kwargs)
        self.layer = layer
        # Private: Keras saves and loads private attributes after public ones,
        # so the adapters are put back after `layer`'s own (merged) load.
        self._adapters = _Adapters(self)
        # The flags a GradualUnfreeze run began with, and whether they came
        # from a config (plain data in the instance dict: not tracked).
        vars(self)["run_start"] = None
        vars(self)["run_start_loaded"] = False
        if state:
            self._apply_state(state)

    def build(self, input_shape: object = None) -> None:
        if not self.layer.built:
            self.layer.build(input_shape)
        self.built = True

    def call(self, inputs: object, training: bool | None = None) -> object:
        return self.layer(inputs, training=training)

    def get_config(self) -> dict:
        lora = [
            {"index": i, "lora_rank": sub.lora_rank, "lora_alpha": sub.lora_alpha}
            for i, sub in enumerate(walk(self.layer))
            if getattr(sub, "lora_enabled", False)
        ]
        return {
            **super().get_config(),
            "layer": keras.saving.serialize_keras_object(self.layer),
            "state": {
                "trainable": _trainability.to_record(self.layer),
                "lora": lora,
                "run_start": self.run_start,
            },
        }

    @classmethod
    def from_config(cls, config: dict) -> StatefulBackbone:
        config = dict(config)
        config["layer"] = keras.saving.deserialize_keras_object(config["layer"])
        return cls(**config)

    def _apply_state(self, state: dict) -> None:
        layers = list(walk(self.layer))
        record = state.get("trainable")
        for entry in state.get("lora") or []:
            index, rank = entry.get("index"), entry.get("lora_rank")
            if rank is None:  # stripped by `merge_lora`: no adapters, so the
                record = {"layers": (record or {}).get("layers", [])}  # layer flags
                continue
            if not isinstance(index, int) or index >= len(layers):
                _warn(self, f"LoRA entry {entry!r} names no layer")
                continue
            layer = layers[index]
            if not getattr(layer, "lora_enabled", False):
                layer.enable_lora(rank, lora_alpha=entry.get("lora_alpha"))
        if record:
            reason = _trainability.apply_record(self.layer, record)
            if reason:
                _warn(self, reason)
        if state.get("run_start"):
            vars(self)["run_start"] = state["run_start"]
            vars(self)["run_start_loaded"] = True


class _Adapters(keras.Layer):
    """Saves and loads the weights of the LoRA-adapted layers of a backbone.

    Keras saves an adapted layer's kernel merged with its adapters and loads
    it with both adapters set to zero (so they would never train again).
    Loaded after the backbone, this puts back every weight of each adapted
    layer: unmerged kernel, bias, both adapters.
    """

    def __init__(self, owner: StatefulBackbone) -> None:
        super().__init__(name="lora_adapters")
        # A weak reference: neither a sublayer nor something Keras's saving
        # walks into (it would load the owner again from inside itself).
        vars(self)["owner_ref"] = weakref.ref(owner)

    def _adapted_weights(self) -> list[keras.Variable]:
        owner = vars(self)["owner_ref"]()
        return [
            weight
            for sub in walk(owner.layer)
            if getattr(sub, "lora_enabled", False)
            for weight in sub.weights
        ]

    def save_own_variables(self, store: object) -> None:
        for i, weight in enumerate(self._adapted_weights()):
            store[str(i)] = keras.ops.convert_to_numpy(weight)

    def load_own_variables(self, store: object) -> None:
        weights = self._adapted_weights()
        keys = list(store.keys())
        if not keys and not weights:
            return
        shapes_match = len(keys) == len(weights) and all(
            tuple(store[str(i)].shape) == tuple(w.shape) for i, w in enumerate(weights)
        )
        if not shapes_match:
            _warn(
                vars(self)["owner_ref"](),
                f"{len(keys)} LoRA weights were saved, {len(weights)} are in the "
                "backbone; the adapters keep the values Keras loaded",
            )
            return
        for i, weight in enumerate(weights):
            weight.assign(np.asarray(store[str(i)]))


def _warn(backbone: StatefulBackbone, reason: str) -> None:
    warnings.warn(
        f"StatefulBackbone {backbone.name!r}: the saved fine-tuning state was not "
        f"applied: {reason}. HINT: the backbone's config rebuilds a different "
        "layer structure (another keras-hub / keras-cv version?); set "
        "`trainable` by hand.",
        stacklevel=3,
    )


def restore_run_start(model: keras.Layer) -> bool:
    """Puts each reloaded `StatefulBackbone` in `model` back at its run start.

    For `GradualUnfreeze.on_train_begin` on a model from `load_model` whose
    backbones carry the flags a `GradualUnfreeze` run began with: those flags
    are set (each once) and the stage of the next epoch is then applied on
    top, as for a model kept in memory. Returns whether any were set.
    """
    restored = False
    for layer in walk(model):
        if isinstance(layer, StatefulBackbone) and layer.run_start_loaded:
            vars(layer)["run_start_loaded"] = False
            if not _trainability.apply_record(layer.layer, layer.run_start):
                restored = True
    return restored


def record_run_start(model: keras.Layer) -> None:
    """Records the current flags of each `StatefulBackbone` in `model` as run start."""
    for layer in walk(model):
        if isinstance(layer, StatefulBackbone):
            vars(layer)["run_start"] = _trainability.to_record(layer.layer)
            vars(layer)["run_start_loaded"] = False
