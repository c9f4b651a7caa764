"""How `HubBackbone` calls the function it picked from a loaded SavedModel.

`SavedModelCall` reads, once, what the SavedModel's concrete functions were
traced for: their input specs, the Python values of their other arguments
(`training`, call-time hyper-parameters such as `return_dict`) and their
output specs. From that it knows whether `training` can be forwarded, which
`arguments` the function accepts, which traces the layer's `arguments` select
(and so which outputs), and the output shapes and dtypes without running the
function. It checks and casts inputs against the specs and unwraps dict
outputs by `output_key`. It also lists the SavedModel's variables with its own
trainable split.
"""

from __future__ import annotations

from typing import NamedTuple

import keras
import tensorflow as tf


class _Trace(NamedTuple):
    """One concrete function: input spec, other arguments, output spec."""

    inputs: object
    options: dict
    outputs: object


class SavedModelCall:
    """The function of a loaded SavedModel that a `HubBackbone` calls.

    Args:
        fn: the tf.function attribute or signature.
        name: its name, for messages.
        kind: `"function"` (called with the inputs and Python keyword
            arguments) or `"signature"` (tensor keyword arguments, dict out).
        output_key: the output to pick from a dict, or `None`.
        arguments: the extra keyword arguments of every call.
        handle: the layer's handle, for messages.
    """

    def __init__(
        self,
        fn: object,
        name: str,
        kind: str,
        output_key: str | None,
        arguments: dict,
        handle: str,
    ) -> None:
        self.fn, self.name, self.kind, self.handle = fn, name, kind, handle
        concrete = list(getattr(fn, "concrete_functions", None) or [fn])
        if not concrete:
            raise ValueError(
                f"The SavedModel function {name!r} of `handle` {handle!r} has "
                "no traced concrete function, so it cannot be called. Export it "
                f"with an input signature. Received: function={name!r}"
            )
        traces = [_trace(c, kind) for c in concrete]
        self.parameters = sorted({k for t in traces for k in t.options})
        self.accepts_training = kind == "function" and "training" in self.parameters
        self._check_argument_names(arguments)
        # Arguments not given take the function's defaults: the traces for
        # those values are the ones a call runs (e.g. `return_dict=False`).
        defaults = _defaults(fn) if kind == "function" else {}
        self.traces = [t for t in traces if _agrees(t.options, arguments, defaults)]
        if not self.traces:
            raise ValueError(
                f"The SavedModel function {name!r} of `handle` {handle!r} was not "
                "traced for these call arguments; `arguments` must use values it "
                "was exported with. Traced: "
                f"{[_shown(t.options) for t in traces]}; defaults: "
                f"{_shown(defaults)}. Received: arguments={arguments!r}"
            )
        self.training_values = {
            t.options["training"]
            for t in self.traces
            if self.accepts_training and isinstance(t.options.get("training"), bool)
        }
        self.input_specs = _unique([t.inputs for t in self.traces])
        self.output_key = self._check_output_key(output_key)
        # XLA has no string kernels (e.g. a text preprocessing SavedModel).
        self.uses_strings = any(
            spec.dtype == tf.string
            for t in self.traces
            for spec in tf.nest.flatten(t.inputs) + tf.nest.flatten(t.outputs)
        )

    def _check_argument_names(self, arguments: dict) -> None:
        accepted = [p for p in self.parameters if p != "training"]
        if "training" in arguments and self.kind == "function":
            raise ValueError(
                "`arguments` must not set `training`: the layer passes it (True "
                "while fitting a trainable layer, else False). Remove it. "
                f"Received: arguments={arguments!r}"
            )
        unknown = sorted(set(arguments) - set(accepted))
        if unknown:
            besides = "its inputs" + (
                " and `training`" if self.accepts_training else ""
            )
            raise ValueError(
                f"`arguments` has {unknown}, which the SavedModel "
                f"{self.kind} {self.name!r} of `handle` {self.handle!r} does not "
                f"accept. Besides {besides}, it accepts: {accepted or 'nothing'}. "
                f"Received: arguments={arguments!r}"
            )

    def _check_output_key(self, output_key: str | None) -> str | None:
        dicts = [t.outputs for t in self.traces if isinstance(t.outputs, dict)]
        if len(dicts) < len(self.traces):  # Some trace returns a non-dict.
            if output_key is not None:
                kind = type(
                    next(
                        t.outputs
                        for t in self.traces
                        if not isinstance(t.outputs, dict)
                    )
                ).__name__
                raise ValueError(
                    f"`output_key` needs a SavedModel that returns a dict, but "
                    f"{self.name!r} returns {kind}. Remove `output_key`. "
                    f"Received: output_key={output_key!r}"
                )
            return None
        keys = sorted(set.intersection(*(set(d) for d in dicts)))
        if output_key is None:
            if self.kind != "signature":
                return None  # A function's dict is the layer's output.
            if len(keys) > 1:
                raise ValueError(
                    f"The signature {self.name!r} has several outputs: {keys}. "
                    "Pick one with `output_key`. Received: output_key=None"
                )
            return keys[0]
        if output_key not in keys:
            raise ValueError(
                f"Unknown `output_key`; the outputs of {self.name!r} are {keys}. "
                f"Received: output_key={output_key!r}"
            )
        return output_key

    def match(self, inputs: object) -> object:
        """Returns the input spec that `inputs` fit; raises ValueError if none.

        `inputs` is a nest of anything with `shape` and `dtype` (tensors,
        `keras.KerasTensor`). Specs of the inputs' own dtypes are tried first
        (a function may be traced for several).
        """
        errors = []
        dtypes = [tf.as_dtype(x.dtype) for x in tf.nest.flatten(inputs)]
        specs = sorted(
            self.input_specs,
            key=lambda spec: [s.dtype for s in tf.nest.flatten(spec)] != dtypes,
        )
        for spec in specs:
            try:
                _check_structure(inputs, spec)
                return spec
            except ValueError as error:
                errors.append(str(error))
        shapes = tf.nest.map_structure(lambda t: tuple(t.shape), inputs)
        raise ValueError(
            f"Inputs do not fit the SavedModel function {self.name!r} of `handle` "
            f"{self.handle!r}: {'; '.join(errors)}. It expects "
            f"{_describe(self.input_specs)} (the first dimension is the batch). "
            f"Resize or reshape the inputs. Received: inputs with shapes {shapes}"
        )

    def output_spec(self, input_spec: object) -> object:
        """The output specs (nest of objects with `shape`/`dtype`) for `input_spec`."""
        traces = [t for t in self.traces if _same(t.inputs, input_spec)]
        # Inference-mode traces first: their outputs are what a frozen layer returns.
        traces.sort(key=lambda t: t.options.get("training") is True)
        outputs = traces[0].outputs
        return outputs if self.output_key is None else outputs[self.output_key]

    def __call__(self, inputs: object, training: bool, arguments: dict) -> object:
        spec = self.match(inputs)
        inputs = _cast(_normalize(inputs, spec), spec)
        if self.kind == "signature":
            outputs = self.fn(**inputs, **arguments)
        elif self.accepts_training:
            if training not in self.training_values and len(self.training_values) == 1:
                (training,) = self.training_values  # Traced for one value only.
            outputs = self.fn(inputs, training=training, **arguments)
        else:
            outputs = self.fn(inputs, **arguments)
        return outputs if self.output_key is None else outputs[self.output_key]


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
    for concrete in getattr(fn, "concrete_functions", None) or [fn]:
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


def _trace(concrete: object, kind: str) -> _Trace:
    args, kwargs = concrete.structured_input_signature
    if kind == "signature":
        return _Trace(dict(kwargs), {}, concrete.structured_outputs)
    names = list(concrete.function_type.parameters)
    values = dict(zip(names, args))
    values.update(kwargs)
    inputs = values.pop(names[0])
    return _Trace(inputs, values, concrete.structured_outputs)


def _defaults(fn: object) -> dict:
    """The default values of `fn`'s parameters, from its Python signature."""
    spec = getattr(getattr(fn, "function_spec", None), "fullargspec", None)
    if spec is None:
        return {}
    defaults = dict(
        zip(spec.args[len(spec.args) - len(spec.defaults or ()) :], spec.defaults or ())
    )
    defaults.update(spec.kwonlydefaults or {})
    return defaults


def _agrees(options: dict, arguments: dict, defaults: dict) -> bool:
    """Whether a trace with Python `options` runs for `arguments` (else defaults).

    `training` is left out: the layer passes either value.
    """
    for key, value in {**defaults, **arguments}.items():
        if key == "training" or (key not in options and key not in arguments):
            continue
        if key not in options:
            return False
        traced = options[key]
        if not isinstance(traced, tf.TypeSpec) and traced != value:
            return False
    return True


def _shown(options: dict) -> dict:
    return {k: v for k, v in sorted(options.items()) if not isinstance(v, tf.TypeSpec)}


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


def _normalize(inputs: object, spec: object) -> object:
    """A lone tensor for a one-input dict spec (a signature) becomes that dict."""
    if isinstance(spec, dict) and len(spec) == 1 and not isinstance(inputs, dict):
        return {next(iter(spec)): inputs}
    return inputs


def _check_structure(inputs: object, spec: object) -> None:
    inputs = _normalize(inputs, spec)
    try:
        tf.nest.assert_same_structure(inputs, spec, check_types=False)
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"structure {_structure(inputs)} does not match {_structure(spec)}"
        ) from error
    if isinstance(spec, dict):
        pairs = [(inputs[k], spec[k], k) for k in spec]
    else:
        pairs = [
            (x, s, getattr(s, "name", None) or str(i))
            for i, (x, s) in enumerate(
                zip(tf.nest.flatten(inputs), tf.nest.flatten(spec))
            )
        ]
    for x, s, where in pairs:
        _check_shape(tuple(x.shape), s, where)


def _check_shape(shape: tuple, spec: tf.TensorSpec, where: str) -> None:
    if spec.shape.rank is None:
        return
    expected = tuple(spec.shape.as_list())
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


def _cast(inputs: object, spec: object) -> object:
    def cast(x: object, s: tf.TensorSpec) -> object:
        if x.dtype != s.dtype and s.dtype != tf.string:
            return tf.cast(x, s.dtype)
        return x

    if isinstance(spec, dict):
        return {k: cast(inputs[k], spec[k]) for k in spec}
    flat = [cast(x, s) for x, s in zip(tf.nest.flatten(inputs), tf.nest.flatten(spec))]
    return tf.nest.pack_sequence_as(spec, flat)


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


def output_tensor_spec(
    spec: object, batch: object, compute_dtype: str
) -> keras.KerasTensor:
    """A `KerasTensor` for one output spec: batch axis from the inputs, floats cast."""
    shape = list(spec.shape.as_list()) if spec.shape.rank is not None else None
    if shape and shape[0] is None:
        shape[0] = batch
    dtype = spec.dtype.name
    if spec.dtype.is_floating:
        dtype = compute_dtype
    return keras.KerasTensor(tuple(shape) if shape is not None else None, dtype=dtype)
