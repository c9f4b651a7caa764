"""`HubBackbone`: a TF Hub / SavedModel backbone as a real Keras 3 layer."""

from __future__ import annotations

import contextlib
import json
import os
import warnings

import keras

from keras_transfer.layers import _hub_checks, _reusable_export

export_reusable_savedmodel = _reusable_export.export_reusable_savedmodel

__all__ = ["HubBackbone", "export_reusable_savedmodel"]


@keras.saving.register_keras_serializable(package="keras_transfer")
class HubBackbone(keras.layers.Layer):
    """A TF Hub model or any SavedModel as a trainable Keras 3 layer.

    Loads, from a local directory, a local `.tar.gz` of one, or a remote
    handle (tfhub.dev / Kaggle / http(s) tarball URL, resolved by
    `tensorflow_hub` into `TFHUB_CACHE_DIR`; `pip install
    'keras-transfer[tfhub]'`):

    - a Reusable SavedModel (TF Hub's TF2 format: `__call__(inputs,
      training)`, `variables`, `trainable_variables`,
      `regularization_losses`), with or without a `training` argument, with
      call-time hyper-parameters, dict / list inputs and outputs (e.g. the
      BERT preprocessing and encoder models of TF Hub's text tutorials);
    - a Keras 2 / `tf_keras` `model.save()` SavedModel directory (same
      attributes, fine-tunes);
    - a `model.export()` artifact (its `serve` function);
    - any signature (`signature=`), e.g. `serving_default`;
    - a TF1 Hub format module (a `hub.Module` export), through its `default`
      signature, frozen only.

    The SavedModel's variables are the layer's weights. Those in its
    `trainable_variables` are trainable while the layer is (`trainable=True`,
    or set later followed by `model.make_train_function(force=True)`); the
    others (e.g. BatchNorm moving statistics) never are. `training` is
    forwarded only where the called function accepts it (read once, at
    load, from its traced concrete functions) and the layer is trainable; a
    frozen layer always runs in inference mode. Regularization losses are
    added while the layer is trainable. Inputs are cast to the SavedModel's
    dtypes and floating outputs to the layer's compute dtype, so
    `mixed_float16` / `mixed_bfloat16` and `jit_compile=True` work (except
    for SavedModels that take or return strings, e.g. text preprocessing:
    XLA has no string ops, so such a layer has `supports_jit = False` and
    Keras compiles its model without XLA).
    `compute_output_shape` and `compute_output_spec` answer from the
    SavedModel's output specs without running it.

    Needs the TensorFlow backend. Saving a model with `model.save("m.keras")`
    stores the (fine-tuned) weights and the handle; loading re-opens the
    handle, which runs the SavedModel's graph code, so
    `keras.models.load_model` needs `safe_mode=False` (as for
    `keras.layers.TFSMLayer`) and the handle must still resolve: if the
    SavedModel has moved, load inside `HubBackbone.relocated({old: new})` or
    set `KERAS_TRANSFER_HUB_HANDLES` (see `relocated`).

    Args:
        handle: a SavedModel directory, a `.tar.gz`/`.tgz`/`.tar` of one, or
            a URL (`https://tfhub.dev/...`, `https://www.kaggle.com/models/...`).
        trainable: whether the SavedModel's trainable variables are trained.
            Defaults to `False`.
        signature: the SavedModel signature to call, a key of
            `loaded.signatures` (e.g. `"serving_default"`; TF1 Hub format:
            `"default"`). A signature returns a dict: `output_key` picks one
            output. For backward compatibility, a name that is only a
            tf.function attribute is called as `function` (with a warning).
            Defaults to `None`: see `function`.
        output_key: the key to pick when the function returns a dict.
            Required for a signature with several outputs. Defaults to `None`
            (a function's dict is returned whole).
        arguments: extra keyword arguments for every call (JSON-serializable
            hyper-parameters the function was exported with, e.g.
            `{"scale": 2.0}` or `{"return_dict": True}`); checked at load
            against what the function accepts and was traced for. Defaults
            to `None`.
        name: the layer name. Defaults to `None` (automatic).
        dtype: the layer's dtype policy. Defaults to `None` (global policy).
        function: (keyword only) the tf.function attribute to call:
            `"__call__"`, `"serve"`, or any other. Not together with
            `signature`. Defaults to `None`: with neither, `__call__` if the
            SavedModel is callable, else `serve`, else the `serving_default`
            signature, else the `default` signature.
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
        *,
        function: str | None = None,
        **kwargs: object,
    ) -> None:
        _hub_checks.check_backend()
        handle = _hub_checks.validate_args(
            handle, signature, output_key, arguments, function
        )
        super().__init__(trainable=trainable, name=name, dtype=dtype, **kwargs)
        from keras_transfer.layers import _hub_call, _hub_resolve, _hub_select

        self.handle = _hub_resolve.relocate(handle)
        self.signature = signature
        self.function = function
        self.output_key = output_key
        self._arguments_json = json.dumps(arguments or {}, sort_keys=True)
        self.resolved_path = _hub_resolve.resolve_handle(self.handle)
        self._loaded, self.tf1_format = _hub_select.load_savedmodel(self.resolved_path)
        if self.tf1_format and trainable:
            raise ValueError(_hub_checks.TF1_NOT_TRAINABLE.format(handle=self.handle))
        fn, fn_name, kind = _hub_select.select_function(
            self._loaded, function, signature, self.handle, self.tf1_format
        )
        self._call_plan = _hub_call.SavedModelCall(
            fn, fn_name, kind, output_key, self.arguments, self.handle
        )
        variables, trainable_ids = _hub_call.savedmodel_variables(self._loaded, fn)
        if self.tf1_format:  # Never trainable (see _hub_checks.TF1_NOT_TRAINABLE).
            trainable_ids = set()
        with keras.name_scope(self.name):  # Paths `<layer name>/<variable>`.
            self._savedmodel_weights = [
                self._wrap(v, id(v) in trainable_ids) for v in variables
            ]
        self._regularization_fns = tuple(
            getattr(self._loaded, "regularization_losses", ())
        )
        # As Keras's own tracking does: a frozen layer's variables are frozen
        # (they stay in the trainable store, so `trainable = True` thaws them).
        for variable in self._savedmodel_weights:
            variable.trainable = variable.trainable and self.trainable
        # Keras then compiles a model holding it without XLA under "auto"
        # (on a GPU) and refuses `jit_compile=True` with a warning, as for
        # its own string layers.
        self.supports_jit = not self._call_plan.uses_strings
        self.built = True
        if trainable and not self._call_plan.accepts_training:
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

        arguments = self.arguments
        if (
            not self.trainable
            or not self._call_plan.accepts_training
            or training is None
        ):
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
        if (
            keras.backend.is_float_dtype(x.dtype.name)
            and x.dtype.name != self.compute_dtype
        ):
            return keras.ops.cast(x, self.compute_dtype)
        return x

    def compute_output_spec(self, inputs: object, training: object = None) -> object:
        """The outputs' shapes and dtypes, read from the SavedModel's output specs.

        Nothing runs: the traced function that the inputs and `arguments`
        select gives the structure (a tensor, or the dict / list the
        SavedModel returns, or the `output_key` entry), the shapes (`None`
        where the SavedModel does not know a size; the batch size is the
        inputs') and the dtypes (floating outputs in the layer's compute
        dtype).
        """
        import tensorflow as tf

        from keras_transfer.layers import _hub_call

        spec = self._call_plan.output_spec(self._call_plan.match(inputs))
        flat = tf.nest.flatten(inputs)
        batch = flat[0].shape[0] if flat and len(flat[0].shape) else None
        return tf.nest.map_structure(
            lambda s: _hub_call.output_tensor_spec(s, batch, self.compute_dtype), spec
        )

    def compute_output_shape(self, input_shape: object) -> object:
        """The output shape(s) for `input_shape` (a shape, or a dict / list of them).

        Args:
            input_shape: a shape tuple with the batch dimension first (e.g.
                `(None, 224, 224, 3)`), or the dict / list of shapes matching
                the SavedModel's inputs.

        Returns:
            A shape tuple, or the dict / list of shape tuples the SavedModel
            returns; `None` for sizes it does not know.
        """
        import tensorflow as tf

        inputs = _map_shapes(lambda shape: keras.KerasTensor(shape), input_shape)
        return tf.nest.map_structure(
            lambda t: t.shape, self.compute_output_spec(inputs)
        )

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "handle": self.handle,
            "signature": self.signature,
            "function": self.function,
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
        _hub_checks.check_safe_mode(safe_mode, config.get("handle"))
        from keras_transfer.layers import _hub_resolve

        _hub_resolve.check_saved_handle(config.get("handle"), config.get("name"))
        # Built frozen, then set: a TF1-format layer thawed by e.g.
        # GradualUnfreeze (which trains nothing there) still loads.
        layer = cls(**{**config, "trainable": False})
        layer.trainable = config.get("trainable", False)
        return layer

    @staticmethod
    def relocated(handles: dict) -> contextlib.AbstractContextManager:
        """A context in which saved handles load from new places.

        A `.keras` file stores a `HubBackbone`'s handle, not its SavedModel,
        and loading re-opens that handle. When the SavedModel has moved (or
        the file is loaded on another machine), map the old handle, or a
        folder above it, to the new one. Outside Python (e.g. the
        `keras-transfer` CLI), set the environment variable
        `KERAS_TRANSFER_HUB_HANDLES` to the same mapping as a JSON object.
        The context wins over the environment variable; the longest matching
        prefix wins. A relocated layer keeps the new handle, so saving it
        again stores the new place.

        Args:
            handles: `{old handle or folder: new handle or folder}`.

        Returns:
            A context manager.

        Example:

        ```python
        import shutil
        import keras
        import keras_transfer as kt

        pretrained = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        kt.layers.export_reusable_savedmodel(pretrained, "/tmp/old_place/hub")
        model = keras.Sequential([keras.Input((3,)), kt.layers.HubBackbone("/tmp/old_place/hub")])
        model.save("/tmp/relocated.keras")
        shutil.rmtree("/tmp/new_place", ignore_errors=True)
        shutil.move("/tmp/old_place", "/tmp/new_place")  # the SavedModel moves
        with kt.layers.HubBackbone.relocated({"/tmp/old_place": "/tmp/new_place"}):
            reloaded = keras.models.load_model("/tmp/relocated.keras", safe_mode=False)
        assert reloaded.layers[0].handle == "/tmp/new_place/hub"
        ```
        """
        from keras_transfer.layers import _hub_resolve

        return _hub_resolve.relocated(handles)


def _map_shapes(fn: object, shapes: object) -> object:
    """Applies `fn` to each shape tuple of a nest (dict / list) of shapes."""
    if isinstance(shapes, dict):
        return {k: _map_shapes(fn, v) for k, v in shapes.items()}
    if isinstance(shapes, (list, tuple)) and not all(
        d is None or isinstance(d, int) for d in shapes
    ):
        return type(shapes)(_map_shapes(fn, v) for v in shapes)
    return fn(tuple(shapes))


def _variable_name(variable: object) -> str:
    name = variable.name.split(":")[0]
    return name.replace("/", "_") or "variable"
