"""`effective_settings`: what a compiled model will really train with."""

from __future__ import annotations

import warnings

import keras

from keras_transfer._device import describe_device
from keras_transfer._layers import walk
from keras_transfer.throughput.precision_choice import PrecisionChoice


def _output_dtypes(model: keras.Model) -> list[str]:
    outputs = getattr(model, "outputs", None)
    try:
        if outputs:
            return [str(keras.backend.standardize_dtype(t.dtype)) for t in outputs]
    except (AttributeError, ValueError):
        pass
    layers = getattr(model, "layers", None)
    if layers:
        return [layers[-1].dtype_policy.compute_dtype]
    return [model.dtype_policy.compute_dtype]


def effective_settings(
    model: keras.Model,
    expected: PrecisionChoice | None = None,
    warn: bool = True,
) -> dict:
    """Reports the precision / XLA settings really in effect after `compile`.

    `model.jit_compile` can be switched off by Keras when a layer has
    `supports_jit=False` (e.g. `RandomRotation`, `RandomZoom`, `RandomCrop`,
    lookup layers); a mixed policy can leave the output layer in float16 /
    bfloat16 (a less precise loss). Each such problem is listed in
    `"problems"` and, when `warn`, warned about with a HINT for the fix.

    Args:
        model: a compiled Keras model.
        expected: the `PrecisionChoice` you meant to apply; differences in
            policy, `jit_compile` or `steps_per_execution` are problems.
            Defaults to `None`.
        warn: emit a warning per problem. Defaults to `True`.

    Returns:
        A dict with `"policy"`, `"jit_compile"`, `"steps_per_execution"`,
        `"loss_scaling"`, `"output_dtypes"`, `"no_jit_layers"`, `"backend"`,
        `"device"` and `"problems"` (a list of strings).

    Example:

    >>> import keras
    >>> from keras_transfer.throughput import effective_settings
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    >>> model.compile(optimizer="sgd", loss="mse", jit_compile=False)
    >>> effective_settings(model)["jit_compile"]
    False
    """
    if not isinstance(model, keras.Model):
        raise TypeError(
            "`model` must be a compiled keras.Model. "
            f"Received: model={type(model).__name__}"
        )
    if not getattr(model, "compiled", False):
        raise ValueError(
            "`model` must be compiled first: call `model.compile(...)`, then "
            "`effective_settings(model)`. Received: an uncompiled model "
            f"{model.name!r}"
        )
    no_jit = sorted(
        {
            f"{layer.name} ({type(layer).__name__})"
            for layer in walk(model, include_self=False)
            if not getattr(layer, "supports_jit", True)
        }
    )
    policy = model.dtype_policy.name
    device = describe_device()
    settings = {
        "policy": policy,
        "jit_compile": bool(model.jit_compile),
        "steps_per_execution": int(getattr(model, "steps_per_execution", 1) or 1),
        "loss_scaling": isinstance(
            model.optimizer, keras.optimizers.LossScaleOptimizer
        ),
        "output_dtypes": _output_dtypes(model),
        "no_jit_layers": no_jit,
        "backend": keras.backend.backend(),
        "device": f"{device['kind']}: {device['name']}",
        "problems": [],
    }
    problems = settings["problems"]
    if (
        no_jit
        and not settings["jit_compile"]
        and (expected is None or expected.jit_compile)
    ):
        problems.append(
            f"XLA is off: layers with supports_jit=False: {', '.join(no_jit)}. "
            "HINT: move augmentation / lookup layers out of the model into the "
            "input pipeline, e.g. "
            "`keras_transfer.data.make_dataset(x, y, augment=[...])`, "
            "then compile again with jit_compile=True."
        )
    if policy.startswith("mixed") and any(
        dtype != "float32" for dtype in settings["output_dtypes"]
    ):
        problems.append(
            f"The model output is {settings['output_dtypes']} under policy "
            f'{policy!r}. HINT: give the last layer `dtype="float32"` (or end with '
            "`keras.layers.Activation('linear', dtype='float32')`) so the loss is "
            "computed in float32."
        )
    if expected is not None:
        for field in ("policy", "jit_compile", "steps_per_execution"):
            want, got = getattr(expected, field), settings[field]
            if want != got and not (field == "jit_compile" and no_jit):
                problems.append(
                    f"`{field}` is {got!r} but {want!r} was expected. HINT: apply "
                    "the choice before building the model (`choice.apply()`) and "
                    "pass `**choice.compile_kwargs()` to compile."
                )
        if expected.loss_scaling and not settings["loss_scaling"]:
            problems.append(
                "mixed_float16 without loss scaling. HINT: build the model after "
                "`choice.apply()` so Keras wraps the optimizer in "
                "LossScaleOptimizer at compile."
            )
    if warn:
        for problem in problems:
            warnings.warn(problem, stacklevel=2)
    return settings
