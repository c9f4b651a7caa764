"""`HubBackbone`: a TF Hub / SavedModel backbone as a real Keras 3 layer."""

from __future__ import annotations

import json
import os
import warnings

import keras

from keras_transfer.layers._reusable_export import export_reusable_savedmodel

__all__ = ["HubBackbone", "export_reusable_savedmodel"]


@keras.saving.register_keras_serializable(package="keras_transfer")
class HubBackbone(keras.layers.Layer):
    """A TF Hub model or any SavedModel as a trainable Keras 3 layer.

    Loads a Reusable SavedModel (TF Hub's TF2 format: `__call__(inputs,
    training)`, `variables`, `trainable_variables`, `regularization_losses`),
    a `model.export()` artifact (endpoint `serve`) or a named signature, from
    a local directory, a local `.tar.gz` of one, or a remote handle
    (tfhub.dev / Kaggle / http(s) tarball URL, resolved by `tensorflow_hub`
    into `TFHUB_CACHE_DIR`; `pip install 'keras-transfer[tfhub]'`).

    The SavedModel's variables are the layer's weights. Those in its
    `trainable_variables` are trainable while the layer is (`trainable=True`,
    or set later followed by `model.make_train_function(force=True)`); the
    others (e.g. BatchNorm moving statistics) never are. `training` is
    forwarded to the SavedModel when it accepts it and the layer is
    trainable; a frozen layer always runs in inference mode. Regularization
    losses are added while the layer is trainable. Inputs are cast to the
    SavedModel's dtypes and floating outputs to the layer's compute dtype, so
    `mixed_float16` / `mixed_bfloat16` and `jit_compile=True` work.

    Needs the TensorFlow backend. Saving a model with `model.save("m.keras")`
    stores the (fine-tuned) weights and the handle; loading re-opens the
    handle, which runs the SavedModel's graph code, so
    `keras.models.load_model` needs `safe_mode=False` (as for
    `keras.layers.TFSMLayer`) and the handle must still resolve.

    Args:
        handle: a SavedModel directory, a `.tar.gz`/`.tgz`/`.tar` of one, or
            a URL (`https://tfhub.dev/...`, `https://www.kaggle.com/models/...`).
        trainable: whether the SavedModel's trainable variables are trained.
            Defaults to `False`.
        signature: the function to call: `"__call__"`, an attribute such as
            `"serve"`, or a key of the SavedModel's `signatures`. Defaults to
            `None`: `__call__` if the SavedModel is callable, else `serve`,
            else the `serving_default` signature.
        output_key: the key to pick when the function returns a dict.
            Required for a signature with several outputs. Defaults to `None`.
        arguments: extra keyword arguments for every call (JSON-serializable
            hyper-parameters, e.g. `{"scale": 2.0}`). Defaults to `None`.
        name: the layer name. Defaults to `None` (automatic).
        dtype: the layer's dtype policy. Defaults to `None` (global policy).
        **kwargs: other `keras.layers.Layer` arguments.

    Call arguments:
        inputs: a tensor, or the list / dict the SavedModel expects.
        training: Python bool or boolean tensor; training mode, used only
            while the layer is trainable.

    Example:

    ```python
    import keras
    import keras_transfer as kt
    from keras_transfer.layers import export_reusable_savedmodel

    pretrained = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4)])
    export_reusable_savedmodel(pretrained, "/tmp/tiny_hub_model")
    model = keras.Sequential([
        keras.Input((8,)),
        kt.layers.HubBackbone("/tmp/tiny_hub_model", trainable=True),
        keras.layers.Dense(1),
    ])
    model.compile("adam", "mse")
    ```
    """

    def __init__(
        self,
        handle: str | os.PathLike,
        trainable: bool = False,
        signature: str | None = None,
        output_key: str | None = None,
        arguments: dict | None = None,
        name: str | None = None,
        dtype: object = None,
        **kwargs: object,
    ) -> None:
        _check_backend()
        handle = _validate_args(handle, signature, output_key, arguments)
        super().__init__(trainable=trainable, name=name, dtype=dtype, **kwargs)
        import tensorflow as tf

        from keras_transfer.layers._hub_call import SavedModelCall, savedmodel_variables
        from keras_transfer.layers._hub_resolve import resolve_handle

        self.handle = handle
        self.signature = signature
        self.output_key = output_key
        self._arguments_json = json.dumps(arguments or {}, sort_keys=True)
        self.resolved_path = resolve_handle(handle)
        self._loaded = tf.saved_model.load(self.resolved_path)
        self._call_plan = SavedModelCall(self._loaded, signature, output_key, handle)
        variables, trainable_ids = savedmodel_variables(self._loaded, self._call_plan.fn)
        with keras.name_scope(self.name):  # Paths `<layer name>/<variable>`.
            self._savedmodel_weights = [self._wrap(v, id(v) in trainable_ids) for v in variables]
        self._regularization_fns = tuple(getattr(self._loaded, "regularization_losses", ()))
        # As Keras's own tracking does: a frozen layer's variables are frozen
        # (they stay in the trainable store, so `trainable = True` thaws them).
        for variable in self._savedmodel_weights:
            variable.trainable = variable.trainable and self.trainable
        self.built = True
        if trainable and not self._call_plan.training_values:
            warnings.warn(
                f"HubBackbone {self.name!r}: the SavedModel function "
                f"{self._call_plan.name!r} has no `training` argument, so "
                "fine-tuning runs it in inference mode (BatchNormalization uses "
                "its moving statistics, Dropout is off) and without "
                "regularization losses unless the SavedModel lists them. HINT: "
                "export the Keras model with "
                "`keras_transfer.layers.export_reusable_savedmodel` to keep "
                "training behaviour.",
                stacklevel=2,
            )

    @staticmethod
    def _wrap(variable: object, trainable: bool) -> keras.Variable:
        """A Keras variable over the same TensorFlow variable (no copy)."""
        return keras.Variable(
            initializer=variable,
            shape=variable.shape,
            dtype=variable.dtype.name,
            trainable=trainable,
            autocast=False,
            name=_variable_name(variable),
        )

    @property
    def arguments(self) -> dict:
        """The extra keyword arguments passed to every call (a copy)."""
        return json.loads(self._arguments_json)

    def call(self, inputs: object, training: object = None) -> object:
        import tensorflow as tf

        inputs = self._call_plan.check_inputs(inputs)
        arguments = self.arguments
        if not self.trainable or not self._call_plan.training_values or training is None:
            training = False
        if isinstance(training, bool):
            outputs = self._call_plan(inputs, training, arguments)
        else:
            outputs = tf.cond(
                tf.cast(training, tf.bool),
                lambda: self._call_plan(inputs, True, arguments),
                lambda: self._call_plan(inputs, False, arguments),
            )
        if self.trainable:
            for loss in self._regularization_fns:
                self.add_loss(keras.ops.cast(loss(), "float32"))
        return keras.tree.map_structure(self._to_compute_dtype, outputs)

    def _to_compute_dtype(self, x: object) -> object:
        if keras.backend.is_float_dtype(x.dtype.name) and x.dtype.name != self.compute_dtype:
            return keras.ops.cast(x, self.compute_dtype)
        return x

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "handle": self.handle,
            "signature": self.signature,
            "output_key": self.output_key,
            "arguments": self.arguments or None,
        }

    @classmethod
    def from_config(cls, config: dict, safe_mode: bool | None = None) -> HubBackbone:
        """Creates a `HubBackbone` from its config, honouring Keras safe mode.

        Loading a SavedModel runs its graph code, so in safe mode (the default
        of `keras.models.load_model`) this raises, exactly when
        `keras.layers.TFSMLayer` would.

        Args:
            config: the output of `get_config`.
            safe_mode: whether to refuse. Defaults to `None`: the current
                Keras safe-mode setting.

        Returns:
            A `HubBackbone`.
        """
        _check_safe_mode(safe_mode, config.get("handle"))
        return cls(**config)


def _check_backend() -> None:
    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise RuntimeError(
            "HubBackbone needs the TensorFlow backend: a SavedModel is a "
            f"TensorFlow graph. The active Keras backend is {backend!r}. Set "
            "the environment variable KERAS_BACKEND=tensorflow before importing "
            "keras (or in ~/.keras/keras.json), or on this backend use a "
            "keras.applications / keras-hub backbone instead."
        )


def _validate_args(
    handle: object, signature: object, output_key: object, arguments: object
) -> str:
    if not isinstance(handle, (str, os.PathLike)) or not os.fspath(handle):
        raise TypeError(
            "`handle` must be a non-empty path or URL string (a SavedModel "
            f"directory, a .tar.gz, or a tfhub.dev / Kaggle URL). Received: "
            f"handle={handle!r}"
        )
    for arg_name, value in (("signature", signature), ("output_key", output_key)):
        if value is not None and not isinstance(value, str):
            raise TypeError(
                f"`{arg_name}` must be a string or None. "
                f"Received: {arg_name}={value!r}"
            )
    if arguments is not None:
        if not isinstance(arguments, dict):
            raise TypeError(
                "`arguments` must be a dict of extra call keyword arguments. "
                f"Received: arguments={arguments!r}"
            )
        try:
            json.dumps(arguments)
        except TypeError as error:
            raise TypeError(
                "`arguments` must be JSON-serializable (numbers, strings, "
                f"lists) so the layer can be saved; {error}. "
                f"Received: arguments={arguments!r}"
            ) from error
    return os.fspath(handle)


def _variable_name(variable: object) -> str:
    name = variable.name.split(":")[0]
    return name.replace("/", "_") or "variable"


def _check_safe_mode(safe_mode: bool | None, handle: object) -> None:
    """Raises where `keras.layers.TFSMLayer` refuses to load in safe mode.

    Delegates the decision to `TFSMLayer.from_config`, so both layers follow
    the same rule (explicit argument, else the deserialization scope, else
    safe): with an empty config it raises ValueError when refused, and a
    TypeError (no `filepath`) before loading anything when allowed.
    """
    try:
        keras.layers.TFSMLayer.from_config({}, safe_mode=safe_mode)
    except TypeError:
        return
    except ValueError as error:
        raise ValueError(
            "Requested the deserialization of a `HubBackbone`, which loads the "
            f"SavedModel {handle!r}; its graph code runs at load time, so this is "
            "disallowed in safe mode. If you trust the model, pass "
            "`safe_mode=False` to `keras.models.load_model` (or "
            "`keras.saving.deserialize_keras_object`), or call "
            "`keras.config.enable_unsafe_deserialization()`."
        ) from error
