"""How `HubBackbone` calls a loaded SavedModel.

`SavedModelCall` picks the function (a Reusable SavedModel's `__call__`, a
`model.export()` endpoint such as `serve`, or an entry of `signatures`), reads
its input specs, checks and casts inputs against them, calls it with
`training` when it accepts one, and unwraps dict outputs by `output_key`.
It also lists the SavedModel's variables with its own trainable split.
"""

from __future__ import annotations

import keras
import tensorflow as tf

_DEFAULT_ENDPOINTS = ("serve", "serving_default")


class SavedModelCall:
    """The function of a loaded SavedModel that a `HubBackbone` calls."""

    def __init__(self, loaded: object, signature: str | None, output_key: str | None,
                 handle: str) -> None:
        self.handle = handle
        self.output_key = output_key
        self.fn, self.name, self.kind = _select_function(loaded, signature, handle)
        concrete = _concrete_functions(self.fn)
        if not concrete:
            raise ValueError(
                f"The SavedModel function {self.name!r} of `handle` {handle!r} has "
                "no traced concrete function, so it cannot be called. Export it "
                "with an input signature. Received: "
                f"signature={signature!r}"
            )
        self.input_specs = _unique([_input_spec(c, self.kind) for c in concrete])
        traced = {_traced_training(c) for c in concrete} - {None}
        # The `training` values the function was traced for ({} = no argument).
        self.training_values = set() if self.kind == "signature" else traced
        if self.kind == "signature":
            keys = sorted(concrete[0].structured_outputs)
            if output_key is None and len(keys) > 1:
                raise ValueError(
                    f"The signature {self.name!r} has several outputs: {keys}. "
                    "Pick one with `output_key`. Received: output_key=None"
                )
            if output_key is not None and output_key not in keys:
                raise ValueError(
                    f"Unknown `output_key` for signature {self.name!r}; its "
                    f"outputs are {keys}. Received: output_key={output_key!r}"
                )
            if output_key is None:
                self.output_key = keys[0]

    def check_inputs(self, inputs: object) -> object:
        """Returns `inputs` cast to the spec's dtypes; raises on a shape mismatch."""
        errors = []
        dtypes = [x.dtype for x in tf.nest.flatten(inputs)]
        # Specs of the inputs' own dtypes first (a function traced for several).
        specs = sorted(
            self.input_specs,
            key=lambda spec: [s.dtype for s in tf.nest.flatten(spec)] != dtypes,
        )
        for spec in specs:
            try:
                return _match(inputs, spec)
            except ValueError as error:
                errors.append(str(error))
        shapes = keras.tree.map_structure(
            lambda t: tuple(t.shape), inputs, none_is_leaf=False
        )
        raise ValueError(
            f"Inputs do not fit the SavedModel function {self.name!r} of `handle` "
            f"{self.handle!r}: {'; '.join(errors)}. It expects "
            f"{_describe(self.input_specs)} (the first dimension is the batch). "
            f"Resize or reshape the inputs. Received: inputs with shapes {shapes}"
        )

    def __call__(self, inputs: object, training: bool, arguments: dict) -> object:
        if self.kind == "signature":
            if isinstance(inputs, dict):
                outputs = self.fn(**inputs, **arguments)
            else:
                (key,) = self.input_specs[0].keys()
                outputs = self.fn(**{key: inputs}, **arguments)
            return outputs[self.output_key]
        try:
            if not self.training_values:
                outputs = self.fn(inputs, **arguments)
            else:
                if training not in self.training_values:  # traced for one value only
                    (training,) = self.training_values
                outputs = self.fn(inputs, training=training, **arguments)
        except (ValueError, TypeError) as error:
            if "matching" not in str(error):
                raise
            raise ValueError(
                f"The SavedModel function {self.name!r} of `handle` "
                f"{self.handle!r} was not traced for these call arguments; "
                "`arguments` must use names and values it was exported with "
                f"(see the traced signatures below). Received: arguments="
                f"{arguments!r}\n{error}"
            ) from error
        if self.output_key is None:
            return outputs
        if not isinstance(outputs, dict):
            raise ValueError(
                f"`output_key` needs a SavedModel that returns a dict, but "
                f"{self.name!r} returns {type(outputs).__name__}. Remove "
                f"`output_key`. Received: output_key={self.output_key!r}"
            )
        if self.output_key not in outputs:
            raise ValueError(
                f"Unknown `output_key`; the outputs of {self.name!r} are "
                f"{sorted(outputs)}. Received: output_key={self.output_key!r}"
            )
        return outputs[self.output_key]


def savedmodel_variables(loaded: object, fn: object) -> tuple[list, set[int]]:
    """All variables of the SavedModel and the ids of its trainable ones.

    Uses the Reusable SavedModel attributes `variables` and
    `trainable_variables` when present (its own split), else the variables
    the called function captures, split by their `trainable` flag.
    """
    if hasattr(loaded, "variables"):
        variables = _dedupe(list(loaded.variables))
        if hasattr(loaded, "trainable_variables"):
            trainable = {id(v) for v in loaded.trainable_variables}
        else:
            trainable = {id(v) for v in variables if v.trainable}
        return variables, trainable
    variables = []
    for concrete in _concrete_functions(fn):
        variables.extend(concrete.variables)
    variables = _dedupe(variables)
    return variables, {id(v) for v in variables if v.trainable}


def _dedupe(variables: list) -> list:
    seen, unique = set(), []
    for v in variables:
        if id(v) not in seen:
            seen.add(id(v))
            unique.append(v)
    return unique


def _available(loaded: object) -> list[str]:
    names = [n for n in _DEFAULT_ENDPOINTS[:1] if _is_function(getattr(loaded, n, None))]
    if callable(loaded):
        names.insert(0, "__call__")
    names += sorted(getattr(loaded, "signatures", {}) or {})
    return names


def _is_function(obj: object) -> bool:
    return obj is not None and hasattr(obj, "concrete_functions")


def _select_function(loaded: object, signature: str | None, handle: str) -> tuple:
    signatures = getattr(loaded, "signatures", {}) or {}
    if signature is not None:
        if signature == "__call__" and callable(loaded):
            return loaded.__call__, "__call__", "function"
        attribute = getattr(loaded, signature, None)
        if _is_function(attribute):
            return attribute, signature, "function"
        if signature in signatures:
            return signatures[signature], signature, "signature"
        raise ValueError(
            f"Unknown `signature` for `handle` {handle!r}. Available: "
            f"{_available(loaded) or 'none'}. Received: signature={signature!r}"
        )
    if callable(loaded) and _is_function(loaded.__call__):
        return loaded.__call__, "__call__", "function"
    if _is_function(getattr(loaded, "serve", None)):
        return loaded.serve, "serve", "function"
    if "serving_default" in signatures:
        return signatures["serving_default"], "serving_default", "signature"
    raise ValueError(
        f"The SavedModel at `handle` {handle!r} is not callable and has no "
        f"`serve` endpoint or `serving_default` signature. Available: "
        f"{_available(loaded) or 'none'}; pass one as `signature`. "
        "Received: signature=None"
    )


def _concrete_functions(fn: object) -> list:
    if hasattr(fn, "concrete_functions"):
        return list(fn.concrete_functions)
    return [fn]


def _traced_training(concrete: object) -> bool | None:
    args, kwargs = concrete.structured_input_signature
    if "training" in kwargs and isinstance(kwargs["training"], bool):
        return kwargs["training"]
    if len(args) > 1 and isinstance(args[1], bool):
        return args[1]
    return None


def _input_spec(concrete: object, kind: str) -> object:
    args, kwargs = concrete.structured_input_signature
    if kind == "signature":
        return dict(kwargs)
    return args[0]


def _unique(specs: list) -> list:
    unique = []
    for spec in specs:
        if not any(_same(spec, other) for other in unique):
            unique.append(spec)
    return unique


def _same(a: object, b: object) -> bool:
    try:
        tf.nest.assert_same_structure(a, b, check_types=False)
    except (ValueError, TypeError):
        return False
    return all(x == y for x, y in zip(tf.nest.flatten(a), tf.nest.flatten(b)))


def _match(inputs: object, spec: object) -> object:
    if isinstance(spec, dict) and len(spec) == 1 and not isinstance(inputs, dict):
        (key,) = spec.keys()
        return {key: _match_tensor(inputs, spec[key], key)}
    try:
        tf.nest.assert_same_structure(inputs, spec, check_types=False)
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"structure {_structure(inputs)} does not match {_structure(spec)}"
        ) from error
    if isinstance(spec, dict):
        return {k: _match_tensor(inputs[k], spec[k], k) for k in spec}
    flat = [
        _match_tensor(x, s, getattr(s, "name", None) or str(i))
        for i, (x, s) in enumerate(zip(tf.nest.flatten(inputs), tf.nest.flatten(spec)))
    ]
    return tf.nest.pack_sequence_as(spec, flat)


def _match_tensor(x: object, spec: tf.TensorSpec, where: str) -> object:
    shape = tuple(x.shape)
    expected = tuple(spec.shape.as_list()) if spec.shape.rank is not None else None
    if expected is not None:
        if len(shape) != len(expected):
            raise ValueError(
                f"input {where!r} has rank {len(shape)}, expected rank "
                f"{len(expected)} {expected}"
            )
        for axis, (got, want) in enumerate(zip(shape, expected)):
            if axis and got is not None and want is not None and got != want:
                raise ValueError(
                    f"input {where!r} has size {got} on axis {axis}, expected "
                    f"{want} {expected}"
                )
    if x.dtype != spec.dtype and spec.dtype != tf.string:
        x = tf.cast(x, spec.dtype)
    return x


def _structure(x: object) -> str:
    if isinstance(x, dict):
        return "dict with keys " + str(sorted(x))
    if isinstance(x, (list, tuple)):
        return f"{type(x).__name__} of {len(x)}"
    return "a single tensor"


def _describe(specs: list) -> str:
    def one(spec: object) -> str:
        return str(
            tf.nest.map_structure(
                lambda s: f"{tuple(s.shape.as_list())} {s.dtype.name}", spec
            )
        )

    return " or ".join(one(s) for s in specs)
