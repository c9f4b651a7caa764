"""Rebuilds a Functional / Sequential model's graph with a hook on every leaf layer.

Used by `adapt_batchnorm` (to read every BatchNormalization layer's input) and by
`Tent` (to call every non-BatchNorm layer in inference mode). The rebuilt graph
shares the model's layers (and so its variables); nested Functional and
Sequential models are entered recursively, anything else is a leaf.

Nested Functional models are rebuilt on fresh `keras.Input`s into a "probe"
model whose outputs are the original outputs plus the tensors the hook asked
for, and the probe is called on the outer tensors. (A Keras Functional graph
cannot start at an intermediate tensor of another graph.)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import keras

from keras_transfer._normalization import is_batchnorm


@dataclasses.dataclass
class Extra:
    """A tensor the leaf hook wants as an extra output of the rebuilt graph."""

    layer: keras.Layer
    tensor: Any
    depth: int


# leaf_fn(layer, args, kwargs, depth) -> (outputs, [(layer, tensor), ...])
LeafFn = Callable[[keras.Layer, tuple, dict, int], tuple[Any, list]]


def is_functional(layer: keras.Layer) -> bool:
    """True for graph models (`keras.Model(inputs, outputs)` and subclasses)."""
    return isinstance(layer, keras.Model) and isinstance(layer, keras.Function)


def is_container(layer: keras.Layer) -> bool:
    """True for the models the rebuild can enter."""
    return isinstance(layer, keras.Sequential) or is_functional(layer)


def model_inputs(model: keras.Model) -> list:
    """The symbolic inputs of a built Functional / Sequential model, else raise."""
    if not is_container(model):
        raise TypeError(
            "`model` must be a Functional or Sequential Keras model (a subclassed "
            "model hides its graph, so its BatchNormalization inputs cannot be "
            "reached). HINT: build the network with the Functional API or "
            "`keras.Sequential` (nested backbones of either kind are fine). "
            f"Received: model={model.__class__.__name__} named {model.name!r}"
        )
    try:
        inputs = list(model.inputs)
    except (AttributeError, ValueError):
        inputs = []
    if not inputs or not model.built:
        raise ValueError(
            f"`model` {model.name!r} is not built: it has no symbolic inputs. "
            "HINT: start it with `keras.Input(shape)` or call `model.build(shape)` "
            f"first. Received: model={model.name!r} (built={model.built})"
        )
    return inputs


class Retracer:
    """Rebuilds models, calling `leaf_fn` for every leaf layer.

    Also tracks the "BatchNorm depth" of every tensor: the largest number of
    `keras.layers.BatchNormalization` layers on a path from the model inputs.
    A BatchNorm layer's own depth is one more than its input's, so layers of
    equal depth can be adapted in one pass.
    """

    def __init__(self, leaf_fn: LeafFn) -> None:
        self.leaf_fn = leaf_fn
        self._alive = []  # keeps tensors alive so their ids stay unique

    def rebuild(self, model: keras.Model) -> tuple[list, list, list[Extra]]:
        """Returns (new flat inputs, new flat outputs, extras) for `model`."""
        inputs = [
            keras.Input(batch_shape=tuple(t.shape), dtype=t.dtype, name=t.name)
            for t in model_inputs(model)
        ]
        depth, extras = {}, []
        args = inputs[0] if len(inputs) == 1 else inputs
        outputs = self.call(model, (args,), {}, depth, extras)
        return inputs, keras.tree.flatten(outputs), extras

    def call(
        self, layer: keras.Layer, args: tuple, kwargs: dict, depth: dict, extras: list
    ) -> Any:
        d_in = max(
            [depth.get(id(t), 0) for t in keras.tree.flatten((args, kwargs))] + [0]
        )
        if isinstance(layer, keras.Sequential):
            x = args[0]
            for sub in layer.layers:
                x = self.call(sub, (x,), {}, depth, extras)
            return x
        if is_functional(layer):
            return self._call_functional(layer, args, d_in, depth, extras)
        d = d_in + 1 if is_batchnorm(layer) else d_in
        outputs, new = self.leaf_fn(layer, args, kwargs, d)
        self._mark(outputs, d, depth)
        extras.extend(Extra(owner, tensor, d) for owner, tensor in new)
        return outputs

    def _call_functional(
        self, model: keras.Model, args: tuple, d_in: int, depth: dict, extras: list
    ) -> Any:
        inner_depth, inner_extras = {}, []

        def call_function(layer: keras.Layer, *a: Any, **k: Any) -> Any:
            return self.call(layer, a, k, inner_depth, inner_extras)

        clone = keras.models.clone_model(
            model, clone_function=lambda layer: layer, call_function=call_function
        )
        flat_in, flat_out = list(clone.inputs), list(clone.outputs)
        probe = keras.Model(
            flat_in if len(flat_in) > 1 else flat_in[0],
            flat_out + [e.tensor for e in inner_extras],
        )
        given = keras.tree.flatten(args[0])
        results = probe(given if len(given) > 1 else given[0])
        outs, found = results[: len(flat_out)], results[len(flat_out) :]
        for ref, out in zip(flat_out, outs):
            self._mark(out, d_in + inner_depth.get(id(ref), 0), depth)
        for extra, tensor in zip(inner_extras, found):
            extras.append(Extra(extra.layer, tensor, d_in + extra.depth))
        return outs[0] if len(outs) == 1 else outs

    def _mark(self, outputs: Any, d: int, depth: dict) -> None:
        for t in keras.tree.flatten(outputs):
            self._alive.append(t)
            depth[id(t)] = d
