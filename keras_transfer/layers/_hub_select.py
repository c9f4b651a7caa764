"""Which function of a SavedModel a `HubBackbone` calls, and how it is loaded.

A SavedModel offers two kinds of callables:

- tf.function attributes (`__call__` of a Reusable SavedModel or a Keras 2
  SavedModel, `serve` of a `model.export()` artifact): called with the
  inputs as written and Python keyword arguments (`training`, ...); they may
  return any nest of tensors. `HubBackbone(function=...)` names one.
- signatures (`loaded.signatures[name]`, e.g. `serving_default`, or the
  `default` signature of a TF1 Hub format module): called with tensor keyword
  arguments, they return a dict. `HubBackbone(signature=...)` names one.

TF1 Hub format modules (`hub.Module` exports, marked by `tfhub_module.pb`)
keep their graph variants under tag sets; they are loaded with the empty tag
set (the inference variant), as `tensorflow_hub.load` does.
"""

from __future__ import annotations

import os
import warnings

import tensorflow as tf

_TF1_HUB_MODULE_FILE = "tfhub_module.pb"


def load_savedmodel(path: str) -> tuple[object, bool]:
    """Loads the SavedModel at `path`; returns it and whether it is TF1 format."""
    hub_module_v1 = os.path.isfile(os.path.join(path, _TF1_HUB_MODULE_FILE))
    loaded = tf.saved_model.load(path, tags=[] if hub_module_v1 else None)
    # A TF1 SavedModel (no object graph) loads as a wrapper with `prune`.
    tf1 = hub_module_v1 or (hasattr(loaded, "prune") and hasattr(loaded, "graph"))
    return loaded, tf1


def select_function(
    loaded: object, function: str | None, signature: str | None, handle: str, tf1: bool
) -> tuple[object, str, str]:
    """Returns `(callable, name, kind)`; `kind` is "function" or "signature".

    `function` names a tf.function attribute, `signature` a SavedModel
    signature (for backward compatibility a `signature` that is only an
    attribute name is used as `function`, with a warning). With neither:
    `__call__`, else `serve`, else the `serving_default` signature, else (TF1
    Hub format) the `default` signature.
    """
    signatures = _signatures(loaded)
    if function is not None:
        attribute = _function_attribute(loaded, function)
        if attribute is None:
            raise ValueError(
                f"Unknown `function` {function!r} for `handle` {handle!r}. "
                f"{_inventory(loaded)} Received: function={function!r}"
            )
        return attribute, function, "function"
    if signature is not None:
        if signature in signatures:
            return signatures[signature], signature, "signature"
        attribute = _function_attribute(loaded, signature)
        if attribute is not None:
            warnings.warn(
                f"`signature={signature!r}` names a tf.function attribute of "
                f"`handle` {handle!r}, not one of its signatures "
                f"({sorted(signatures) or 'none'}). It is called as "
                f"`function={signature!r}`; pass that instead (`signature` "
                "means `loaded.signatures[name]`, as in TF Hub).",
                stacklevel=3,
            )
            return attribute, signature, "function"
        raise ValueError(
            f"Unknown `signature` {signature!r} for `handle` {handle!r}. "
            f"{_inventory(loaded)} Received: signature={signature!r}"
        )
    for name in ("__call__", "serve"):
        attribute = _function_attribute(loaded, name)
        if attribute is not None:
            return attribute, name, "function"
    # TF1 Hub format modules are called through "default", as hub.KerasLayer does.
    defaults = ("default", "serving_default") if tf1 else ("serving_default", "default")
    for name in defaults:
        if name in signatures:
            return signatures[name], name, "signature"
    raise ValueError(
        f"The SavedModel at `handle` {handle!r} is not callable and has no "
        "`serve` function nor a `serving_default` or `default` signature. "
        f"{_inventory(loaded)} Pass one as `function` or `signature`. "
        "Received: function=None, signature=None"
    )


def function_names(loaded: object) -> list[str]:
    """The tf.function attributes of `loaded` (`__call__` first when callable)."""
    names = sorted(
        name
        for name in dir(loaded)
        if not name.startswith("_")
        and name != "signatures"
        and _is_function(getattr(loaded, name, None))
    )
    if _function_attribute(loaded, "__call__") is not None:
        names.insert(0, "__call__")
    return names


def _inventory(loaded: object) -> str:
    return (
        f"Its signatures (pass as `signature`): {sorted(_signatures(loaded)) or 'none'}; "
        f"its tf.function attributes (pass as `function`): "
        f"{function_names(loaded) or 'none'}."
    )


def _signatures(loaded: object) -> dict:
    return dict(getattr(loaded, "signatures", None) or {})


def _function_attribute(loaded: object, name: str) -> object:
    if name == "__call__":
        # `type(loaded).__call__` is set when the SavedModel saved a `__call__`.
        if not callable(loaded):
            return None
        attribute = loaded.__call__
    else:
        attribute = getattr(loaded, name, None)
    return attribute if _is_function(attribute) else None


def _is_function(obj: object) -> bool:
    return obj is not None and hasattr(obj, "concrete_functions")
