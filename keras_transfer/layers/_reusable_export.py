"""Export a Keras 3 model as a TF Hub format Reusable SavedModel.

`model.export()` writes an inference-only artifact (no `training` argument,
no regularization losses). The Reusable SavedModel format of TF Hub adds what
fine-tuning needs: `__call__(inputs, training)` traced for both values of
`training`, `variables`, `trainable_variables` and `regularization_losses`.
"""

from __future__ import annotations

import os

import keras

from keras_transfer._device import tensorflow_backend


def export_reusable_savedmodel(
    model: keras.Model, path: str | os.PathLike, input_signature: object = None
) -> str:
    """Saves `model` as a TF Hub format Reusable SavedModel at `path`.

    The SavedModel has `__call__(inputs, training=False)` (traced with
    `training=False` and `training=True`, so BatchNormalization and Dropout
    behave as in Keras), `variables` (the model's weights; other state such
    as Dropout seeds is saved beside them), `trainable_variables` (the
    weights trainable when exported: freeze a layer
    before exporting to keep it frozen in every `HubBackbone` built from the
    export), and `regularization_losses` (one function per weight
    regularizer). Activity regularizers are not kept (the format has no way
    to express input-dependent losses). Needs the TensorFlow backend.

    Args:
        model: a built Keras model.
        path: the directory to write (created, or overwritten).
        input_signature: a `tf.TensorSpec` or a nest of them (list / dict)
            matching the model's inputs. Defaults to `None`: taken from
            `model.input` (batch dimension free).

    Returns:
        `path` as a string.

    Example:

    ```python
    import keras
    from keras_transfer.layers import HubBackbone, export_reusable_savedmodel

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    export_reusable_savedmodel(model, "/tmp/reusable_dense")
    backbone = HubBackbone("/tmp/reusable_dense", trainable=True)
    ```
    """
    if not tensorflow_backend():
        raise RuntimeError(
            "export_reusable_savedmodel writes a TensorFlow SavedModel and needs "
            "the TensorFlow backend; the active Keras backend is "
            f"{keras.backend.backend()!r}. Set KERAS_BACKEND=tensorflow."
        )
    import tensorflow as tf

    if not isinstance(model, keras.Model):
        raise TypeError(
            "`model` must be a keras.Model. Wrap a layer with keras.Sequential. "
            f"Received: model={model!r}"
        )
    if not model.built:
        raise ValueError(
            "`model` must be built before export: call it on data or create "
            f"it with keras.Input. Received: model={model.name!r} (unbuilt)"
        )
    if input_signature is None:
        try:
            if isinstance(model, keras.Sequential):
                (inputs,) = model.inputs
            else:
                inputs = model.input
        except (AttributeError, ValueError, TypeError) as error:
            raise ValueError(
                "Cannot infer the input signature of `model`; pass "
                "`input_signature`, e.g. tf.TensorSpec([None, 224, 224, 3]). "
                f"Received: input_signature=None ({error})"
            ) from error
        input_signature = keras.tree.map_structure(
            lambda t: tf.TensorSpec(t.shape, t.dtype), inputs
        )

    @tf.function
    def call(inputs: object, training: bool = False) -> object:
        return model(inputs, training=training)

    for training in (False, True):
        call.get_concrete_function(input_signature, training=training)

    obj = tf.train.Checkpoint()
    obj.__call__ = call
    obj.variables = [v.value for v in model.weights]
    obj.trainable_variables = [v.value for v in model.trainable_weights]
    # Other state the function uses (e.g. Dropout seeds): saved, not weights.
    weight_ids = {id(v) for v in model.weights}
    obj.other_state = [v.value for v in model.variables if id(v) not in weight_ids]
    obj.regularization_losses = _regularization_losses(model, tf)
    path = os.fspath(path)
    tf.saved_model.save(obj, path)
    return path


def _regularization_losses(model: keras.Model, tf: object) -> list:
    losses = []
    for variable in model.trainable_weights:
        regularizer = getattr(variable, "regularizer", None)
        if regularizer is None:
            continue

        function = tf.function(_bind(regularizer, variable))
        function.get_concrete_function()
        losses.append(function)
    return losses


def _bind(regularizer: object, variable: keras.Variable) -> object:
    def loss() -> object:
        return regularizer(variable.value)

    return loss
