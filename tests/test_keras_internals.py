"""One test per assumption `keras_transfer._keras_internals` makes about Keras.

When a Keras release changes one of them, the test named after the function
fails here first, with the assumption in its message.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_transfer import _keras_internals

# --- Layers -----------------------------------------------------------------


class _Block(keras.layers.Layer):
    """A plain layer holding layers: one as an attribute, two in a list."""

    def __init__(self):
        super().__init__(name="block")
        self.first = keras.layers.Dense(2, name="first")
        self.pair = [
            keras.layers.Dense(2, name="second"),
            keras.layers.Dense(2, name="third"),
        ]

    def call(self, x):
        return self.pair[1](self.pair[0](self.first(x)))


def test_tracked_sublayers():
    block = _Block()
    names = [layer.name for layer in _keras_internals.tracked_sublayers(block)]
    assert names == ["first", "second", "third"], (
        "Keras no longer tracks the layers a Layer holds (attributes, lists) in "
        "`_layers` / `_flatten_layers(include_self=False, recursive=False)`, in "
        f"assignment order: got {names}"
    )
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="dense")])
    names = [layer.name for layer in _keras_internals.tracked_sublayers(model)]
    assert names[1:] == ["dense"] and [lay.name for lay in model.layers] == ["dense"], (
        f"Sequential's tracked layers changed: got {names}"
    )


def test_call_outputs():
    inner_in = keras.Input((3,))
    inner = keras.Model(inner_in, keras.layers.Dense(2)(inner_in), name="inner")
    outer_in = keras.Input((3,))
    outer_out = keras.layers.Dense(1)(inner(outer_in))
    outer = keras.Model(outer_in, outer_out)
    calls = _keras_internals.call_outputs(inner)
    assert len(calls) == 1 and len(calls[0]) == 1, (
        "Keras no longer records one `_inbound_nodes` entry per symbolic call of a "
        f"model (here: its call in the outer graph) with its outputs: got {calls}"
    )
    assert calls[0][0] is not inner.output
    features = keras.Model(outer.inputs, calls[-1][0])  # connected to the outer inputs
    assert features.inputs[0] is outer_in
    with pytest.raises(ValueError):
        keras.Model(outer.inputs, inner.output)  # the inner graph's own output is not


# --- Optimizers -------------------------------------------------------------


def _two_variables():
    a = keras.Variable(np.ones((2, 2), "float32"), name="a")
    b = keras.Variable(np.ones((3,), "float32"), name="b")
    return a, b


def _grads_for(*variables):
    return [keras.ops.ones(v.shape) for v in variables]


def test_optimizer_variables_for():
    a, b = _two_variables()
    opt = keras.optimizers.Adam(0.1)
    assert _keras_internals.optimizer_variables_for(opt) == []
    opt.build([b, a])
    got = _keras_internals.optimizer_variables_for(opt)
    assert [id(v) for v in got] == [id(b), id(a)], "build keeps the list in order"


def test_set_optimizer_variables_for():
    a, b = _two_variables()
    inner = keras.optimizers.SGD(0.1)
    wrapper = keras.optimizers.LossScaleOptimizer(inner)
    wrapper.build([a])
    _keras_internals.rebuild_keeping_state(inner, [a, b])
    _keras_internals.set_optimizer_variables_for(wrapper, [a, b])
    assert [id(v) for v in _keras_internals.optimizer_variables_for(wrapper)] == [
        id(a),
        id(b),
    ]
    assert not any(v is a or v is b for v in wrapper.variables), "model vars adopted"
    inner.apply(_grads_for(a, b))  # `apply(grads)` pairs grads with the list
    np.testing.assert_allclose(keras.ops.convert_to_numpy(b), 0.9 * np.ones(3))


def test_rebuild_keeping_state():
    a, b = _two_variables()
    opt = keras.optimizers.Adam(0.1)
    opt.build([a])
    opt.apply(_grads_for(a), [a])
    slots = {v.path: keras.ops.convert_to_numpy(v) for v in opt.variables}
    _keras_internals.rebuild_keeping_state(opt, [b, a])
    paths = [v.path for v in opt.variables]
    assert len(paths) == len(set(paths)) == 2 + 2 * 2, paths  # no stale copies
    for v in opt.variables:
        if v.path in slots:
            np.testing.assert_array_equal(keras.ops.convert_to_numpy(v), slots[v.path])
        else:
            assert not keras.ops.convert_to_numpy(v).any(), f"{v.path}: fresh zeros"
    _keras_internals.rebuild_keeping_state(opt, [b])
    assert not [v.path for v in opt.variables if "_a_" in v.path or "/a_" in v.path]
    assert len(opt.variables) == 2 + 2


def test_sync_optimizer():
    a, b = _two_variables()
    inner = keras.optimizers.Adam(0.1)
    wrapper = keras.optimizers.LossScaleOptimizer(inner)
    assert _keras_internals.sync_optimizer(wrapper, [a]) == [a]  # builds
    new = _keras_internals.sync_optimizer(wrapper, [b, a])
    assert [id(v) for v in new] == [id(b)]
    for opt in (wrapper, inner):
        order = _keras_internals.optimizer_variables_for(opt)
        assert [id(v) for v in order] == [id(b), id(a)]
    assert _keras_internals.sync_optimizer(wrapper, [b, a]) == []


def test_own_optimizer_variables():
    a, _ = _two_variables()
    plain = keras.optimizers.Adam(0.1)
    plain.build([a])
    own = _keras_internals.own_optimizer_variables(plain)
    assert [id(v) for v in own] == [id(v) for v in plain.variables], (
        "the base `Optimizer.variables` is no longer the list `add_variable` fills "
        f"(`_variables`): {[v.path for v in own]} vs {[v.path for v in plain.variables]}"
    )
    assert len(own) == 2 + 2, "iterations, learning rate, two Adam slots of `a`"
    wrapper = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.1))
    wrapper.build([a])
    own = _keras_internals.own_optimizer_variables(wrapper)
    inner = wrapper.inner_optimizer.variables
    assert own and not {id(v) for v in own} & {id(v) for v in inner}
    assert [id(v) for v in wrapper.variables] == [id(v) for v in own + inner], (
        "LossScaleOptimizer's `variables` is no longer its own (`_variables`) "
        "followed by the wrapped optimizer's; LayerwiseLR mirrors that order"
    )


def _saved_at_two_stages(path):
    """Fits with `first` frozen, then unfrozen (state synced), and saves the weights."""
    model = _two_layer_model()
    model.get_layer("first").trainable = False
    model.compile(keras.optimizers.Adam(0.1), "mse")
    x, y = np.ones((4, 3), "float32"), np.zeros((4, 1), "float32")
    model.fit(x, y, epochs=1, verbose=0)
    _unfreeze_first(model)
    model.fit(x, y, epochs=1, verbose=0)
    model.save_weights(path)
    return [keras.ops.convert_to_numpy(v) for v in model.optimizer.variables]


def _two_layer_model():
    return keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(2, name="first"),
            keras.layers.Dense(1, name="second"),
        ]
    )


def _unfreeze_first(model):
    model.get_layer("first").trainable = True
    _keras_internals.sync_optimizer(model.optimizer, model.trainable_variables)
    model.make_train_function(force=True)


def test_hook_optimizer_loading(tmp_path):
    path = str(tmp_path / "stage2.weights.h5")
    saved = _saved_at_two_stages(path)
    model = _two_layer_model()
    model.get_layer("first").trainable = False
    model.compile(keras.optimizers.Adam(0.1), "mse")
    optimizer = model.optimizer
    optimizer.build(model.trainable_variables)
    fresh = len(optimizer.variables)
    assert fresh < len(saved)
    with pytest.warns(UserWarning, match="Skipping variable loading"):
        model.load_weights(path)  # why the hook exists: Keras skips another count
    assert len(optimizer.variables) == fresh
    assert int(keras.ops.convert_to_numpy(optimizer.iterations)) == 0

    counts = []

    def before_load(count):
        counts.append(count)
        _unfreeze_first(model)

    _keras_internals.hook_optimizer_loading(optimizer, before_load)
    _keras_internals.hook_optimizer_loading(optimizer, before_load)  # replaces
    assert len(optimizer.variables) == fresh, "the hook is not tracked as state"
    model.load_weights(path)
    assert counts == [len(saved)], (
        "`model.load_weights` no longer calls the optimizer's instance "
        "`load_own_variables(store)` once with `len(store.keys())` == the number "
        f"of saved optimizer variables ({len(saved)}): got {counts}"
    )
    got = [keras.ops.convert_to_numpy(v) for v in optimizer.variables]
    assert len(got) == len(saved)
    for value, expected in zip(got, saved, strict=True):
        np.testing.assert_array_equal(value, expected)  # loaded by position
    assert int(got[0]) == 2, "iterations restored"

    _keras_internals.unhook_optimizer_loading(optimizer)
    assert "load_own_variables" not in vars(optimizer)
    model.load_weights(path)
    assert counts == [len(saved)], "unhooked: Keras's own load again"


def test_step_counter():
    a, _ = _two_variables()
    opt = keras.optimizers.SGD(0.1, gradient_accumulation_steps=2)
    opt.apply(_grads_for(a), [a])
    counter = _keras_internals.step_counter(opt)
    assert isinstance(counter, keras.Variable)
    assert int(keras.ops.convert_to_numpy(counter)) == 1, "counts every apply"
    assert int(keras.ops.convert_to_numpy(opt.iterations)) == 0, "iterations divides"


def test_copy_weight_decay_exclusions():
    a, b = _two_variables()
    source = keras.optimizers.AdamW(0.1, weight_decay=0.5)
    source.exclude_from_weight_decay(var_list=[a], var_names=["b"])
    target = keras.optimizers.SGD(0.1, weight_decay=0.5)
    _keras_internals.copy_weight_decay_exclusions(source, target)
    c = keras.Variable(np.ones((2,), "float32"), name="c")
    target.apply([keras.ops.zeros(v.shape) for v in (a, b, c)], [a, b, c])
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), np.ones((2, 2)))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(b), np.ones(3))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(c), np.full(2, 0.95))


def test_strategy_scope():
    opt = keras.optimizers.SGD(0.1)
    with _keras_internals.strategy_scope(opt):
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            assert tf.distribute.get_strategy() is opt._distribution_strategy
        else:
            assert not hasattr(opt, "_distribution_strategy")


def test_uses_weight_decay():
    a, b = _two_variables()
    opt = keras.optimizers.AdamW(0.1, weight_decay=0.5)
    opt.exclude_from_weight_decay(var_names=["b"])
    assert _keras_internals.uses_weight_decay(opt, a) is True
    assert _keras_internals.uses_weight_decay(opt, b) is False
