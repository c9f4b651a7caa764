"""`adapt_batchnorm`: AdaBN, exact BatchNorm statistics on unlabelled target data."""

from __future__ import annotations

import warnings
from typing import Any

import keras
import numpy as np

from keras_transfer._device import backend_is
from keras_transfer._normalization import hides_batchnorm, is_batchnorm, statistics
from keras_transfer._snapshot import restore
from keras_transfer.adaptation._batch_moments import BatchMoments
from keras_transfer.adaptation._batch_stat_normalize import BatchStatNormalize
from keras_transfer.adaptation._batches import batch_source
from keras_transfer.adaptation._retrace import (
    Retracer,
    is_container,
    model_inputs,
)
from keras_transfer.adaptation.adabn_report import AdaBNReport


class _Accumulator:
    """Exact running mean / M2 per channel in float64 (Chan et al. merge)."""

    def __init__(self) -> None:
        self.n, self.mean, self.m2 = 0.0, 0.0, 0.0

    def add(self, moments: np.ndarray) -> None:
        mean_b, var_b = moments[0].astype(np.float64), moments[1].astype(np.float64)
        n_b = float(moments[2][0])
        if n_b == 0:
            return
        n = self.n + n_b
        delta = mean_b - self.mean
        self.mean = self.mean + delta * (n_b / n)
        self.m2 = self.m2 + var_b * n_b + np.square(delta) * (self.n * n_b / n)
        self.n = n

    def variance(self) -> np.ndarray:
        return self.m2 / self.n


def _ordered(x: Any, inputs: list, model: keras.Model) -> Any:
    """A dict batch as a list in the order of the model's inputs."""
    if not isinstance(x, dict):
        return x
    names = [t.name for t in inputs]
    if set(x) != set(names):
        raise ValueError(
            f"`data` keys must be the input names of model {model.name!r}: "
            f"{sorted(names)}. Received: keys {sorted(x)}"
        )
    return [x[name] for name in names]


def _check_batch(x: Any, inputs: list, model: keras.Model) -> int:
    arrays = keras.tree.flatten(x)
    if len(arrays) != len(inputs):
        raise ValueError(
            f"`data` must give {len(inputs)} input array(s) per batch for model "
            f"{model.name!r}. Received: {len(arrays)} array(s)"
        )
    for array, ref in zip(arrays, inputs):
        expected = tuple(ref.shape)[1:]
        got = tuple(array.shape)[1:]
        if len(got) != len(expected) or any(
            e is not None and e != g for e, g in zip(expected, got)
        ):
            raise ValueError(
                f"`data` does not match the input of model {model.name!r}: "
                f"expected per-sample shape {expected}. HINT: resize / reshape the "
                "target data like the source data. "
                f"Received: per-sample shape {got}"
            )
    return int(arrays[0].shape[0])


def adapt_batchnorm(
    model: keras.Model,
    data: Any,
    steps: int | None = None,
    batch_size: int = 32,
    exact: bool = True,
) -> AdaBNReport:
    """Re-estimates every BatchNorm layer's statistics on target data (AdaBN).

    AdaBN (Li et al., 2017) replaces each `BatchNormalization` layer's
    `moving_mean` and `moving_variance` with the statistics of its input on
    unlabelled target-domain data. Unlike a `fit()` in training mode (momentum
    0.99: a few steps barely move the averages), the statistics here are
    exact: the mean and population variance over all samples given, merged
    across batches in float64. Layers are adapted in depth order (one pass
    over `data` per BatchNorm depth), each pass running the model in
    inference mode with the layers before it already adapted, so after the
    call every BatchNorm layer normalizes its input to zero mean and unit
    variance over `data`, exactly as the model will see it at inference.

    Nothing else changes: other weights stay bit-identical, and `momentum`,
    `trainable` and the layers' call modes are never touched. Works on nested
    Functional / Sequential backbones, under mixed precision, on every
    backend. BatchNorm statistics hidden inside a layer (a `HubBackbone`, a
    subclassed layer or model) cannot be reached: they are left unchanged
    with a warning naming the layer.

    Args:
        model: a built Functional or Sequential model with
            `keras.layers.BatchNormalization` layers (possibly nested).
        data: unlabelled (or labelled: labels are ignored) target data: an
            array (a list / dict of arrays for several inputs), a tuple
            `(x, y)` or `(x, y, sample_weight)`, a `tf.data.Dataset` of
            batches, or another finite iterable of batches.
        steps: use at most this many batches. Defaults to `None` (all; needed
            for a repeating dataset).
        batch_size: batch size for array data. Exact statistics do not
            depend on it. Defaults to `32`.
        exact: `True` for one pass per BatchNorm depth (exact). `False` for
            a single pass in which every BatchNorm layer normalizes its output
            with the batch's own statistics (as in training mode, moving
            averages untouched), so deeper layers see inputs normalized by
            batch rather than final statistics; close to exact for large
            batches and much faster for deep networks (MobileNetV2: 52
            passes -> 1). First-depth layers are exact either way.
            Defaults to `True`.

    Returns:
        An `AdaBNReport` (layers adapted, batches and samples per pass,
        passes, unreachable layers).

    Example:

    >>> import keras, numpy as np
    >>> import keras_transfer as kt
    >>> model = keras.Sequential([keras.Input((4,)),
    ...                           keras.layers.BatchNormalization(),
    ...                           keras.layers.Dense(2)])
    >>> target = np.random.default_rng(0).normal(3.0, 2.0, (64, 4))
    >>> report = kt.adapt_batchnorm(model, target)
    >>> print(report)
    AdaBN: 1 BatchNorm layer adapted on 64 samples (2 batches x 1 pass)
    >>> bool(np.allclose(model.layers[0].moving_mean, target.mean(0), atol=1e-5))
    True
    """
    if not isinstance(model, keras.Model):
        raise TypeError(
            "`model` must be a keras.Model. "
            f"Received: model of type {type(model).__name__}"
        )
    inputs = model_inputs(model)
    source = batch_source(data, batch_size, steps)
    opaque = []

    if not isinstance(exact, bool):
        raise TypeError(f"`exact` must be True or False. Received: exact={exact!r}")

    def leaf(layer: keras.Layer, args: tuple, kwargs: dict, depth: int) -> tuple:
        if is_batchnorm(layer):
            moments = BatchMoments(layer.axis)(args[0])
            outputs = (
                layer(*args, **kwargs) if exact else BatchStatNormalize(layer)(args[0])
            )
            return outputs, [(layer, moments)]
        outputs = layer(*args, **kwargs)
        if not is_container(layer) and hides_batchnorm(layer):
            opaque.append(layer)
        return outputs, []

    new_inputs, _, extras = Retracer(leaf).rebuild(model)
    skipped = tuple(dict.fromkeys(layer.name for layer in opaque))
    if not extras:
        hidden = (
            f" (only inside {', '.join(skipped)}, which hide them)" if skipped else ""
        )
        raise ValueError(
            f"`model` {model.name!r} has no reachable BatchNormalization layer"
            f"{hidden}: there is nothing for AdaBN to adapt. HINT: AdaBN needs "
            "`keras.layers.BatchNormalization` in a Functional or Sequential "
            f"graph. Received: model={model.name!r}"
        )
    for name in skipped:
        warnings.warn(
            f"Layer {name!r} keeps BatchNorm statistics that adapt_batchnorm cannot "
            "reach (a HubBackbone SavedModel or a subclassed layer is opaque); they "
            "are left unchanged. HINT: rebuild that part with Keras layers to adapt it.",
            stacklevel=2,
        )

    layer_depth = {}
    for extra in extras:
        key = id(extra.layer)
        depth = extra.depth if exact else 1
        layer_depth[key] = max(layer_depth.get(key, 0), depth)
    extractor = keras.Model(
        new_inputs if len(new_inputs) > 1 else new_inputs[0],
        [e.tensor for e in extras],
    )
    extractor.compile(jit_compile=backend_is("jax"))

    adapted, batches, samples = [], 0, 0
    levels = sorted(set(layer_depth.values()))
    for level in levels:
        todo = {k for k, d in layer_depth.items() if d == level}
        acc = {k: _Accumulator() for k in todo}
        batches = samples = 0
        for x in source():
            x = _ordered(x, inputs, model)
            samples += _check_batch(x, inputs, model)
            batches += 1
            results = extractor.predict_on_batch(x)
            results = results if isinstance(results, list) else [results]
            for extra, moments in zip(extras, results):
                if id(extra.layer) in todo:
                    acc[id(extra.layer)].add(np.asarray(moments))
        if samples == 0:
            raise ValueError(
                "`data` is empty: AdaBN needs target samples. "
                f"Received: data with 0 samples (steps={steps})"
            )
        for extra in extras:
            key = id(extra.layer)
            if key in todo:
                todo.discard(key)
                restore(statistics(extra.layer), [acc[key].mean, acc[key].variance()])
                adapted.append(extra.layer.name)
    return AdaBNReport(
        layers=tuple(adapted),
        batches=batches,
        samples=samples,
        passes=len(levels),
        skipped=skipped,
    )
