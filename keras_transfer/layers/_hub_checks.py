"""`HubBackbone`'s checks: backend, arguments, safe mode, TF1 trainability."""

from __future__ import annotations

import json
import os

import keras

from keras_transfer._device import tensorflow_backend


def check_backend() -> None:
    if not tensorflow_backend():
        raise RuntimeError(
            "HubBackbone needs the TensorFlow backend: a SavedModel is a "
            "TensorFlow graph. The active Keras backend is "
            f"{keras.backend.backend()!r}. Set "
            "the environment variable KERAS_BACKEND=tensorflow before importing "
            "keras (or in ~/.keras/keras.json), or on this backend use a "
            "keras.applications / keras-hub backbone instead."
        )


def validate_args(
    handle: object,
    signature: object,
    output_key: object,
    arguments: object,
    function: object,
) -> str:
    if not isinstance(handle, (str, os.PathLike)) or not os.fspath(handle):
        raise TypeError(
            "`handle` must be a non-empty path or URL string (a SavedModel "
            f"directory, a .tar.gz, or a tfhub.dev / Kaggle URL). Received: "
            f"handle={handle!r}"
        )
    for arg_name, value in (
        ("signature", signature),
        ("output_key", output_key),
        ("function", function),
    ):
        if value is not None and not isinstance(value, str):
            raise TypeError(
                f"`{arg_name}` must be a string or None. Received: {arg_name}={value!r}"
            )
    if signature is not None and function is not None:
        raise ValueError(
            "Pass `signature` (a SavedModel signature, `loaded.signatures[name]`) "
            "or `function` (a tf.function attribute such as `__call__` or "
            f"`serve`), not both. Received: signature={signature!r}, "
            f"function={function!r}"
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


TF1_NOT_TRAINABLE = (
    "`trainable=True` is not possible for {handle!r}: it is a TF1 Hub format "
    "module (a `hub.Module` export, called through its `default` signature), "
    "and TF1-format modules cannot be fine-tuned in TF2 (their training graph "
    "variant, update ops such as BatchNorm statistics and regularization "
    "losses are not loaded). Use it frozen, `trainable=False` (train a new "
    "head on its features), or to fine-tune, use the model's TF2 SavedModel "
    "version (TF Hub / Kaggle publish a 'TensorFlow2' variation of most "
    "models) or a keras-hub / keras.applications backbone. "
    "Received: trainable=True"
)


def check_safe_mode(safe_mode: bool | None, handle: object) -> None:
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
