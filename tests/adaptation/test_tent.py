"""Tent: BN-only training with batch statistics via the stock compile + fit."""

import keras
import numpy as np
import pytest

from keras_transfer.adaptation import Tent


def _model(output="logits"):
    inner_in = keras.Input((6,))
    h = keras.layers.Dense(8, name="inner_dense")(inner_in)
    h = keras.layers.BatchNormalization(name="bn_inner")(h)
    backbone = keras.Model(inner_in, keras.layers.ReLU()(h), name="backbone")
    inp = keras.Input((6,))
    x = keras.layers.BatchNormalization(name="bn0")(inp)
    x = backbone(x)
    x = keras.layers.Dropout(0.5, name="drop")(x)
    activation = "softmax" if output == "probs" else None
    out = keras.layers.Dense(3, activation=activation, name="head", dtype="float32")(x)
    return keras.Model(inp, out, name="clf")


def _target(n=48, seed=0):
    return (np.random.default_rng(seed).normal(size=(n, 6)) * 2 + 1).astype("float32")


def _values(model):
    return {v.path: keras.ops.convert_to_numpy(v).copy() for v in model.weights}


def test_only_batchnorm_affine_parameters_are_trainable():
    model = _model()
    tent = Tent(model)
    names = sorted(v.path for v in tent.model.trainable_weights)
    assert names == sorted(
        f"{bn}/{w}" for bn in ("bn0", "bn_inner") for w in ("gamma", "beta")
    )
    assert [layer.name for layer in tent.batchnorm_layers] == ["bn0", "bn_inner"]
    assert tent.from_logits is True


def test_batch_statistics_on_and_dropout_off_in_training_mode():
    model = _model()
    tent = Tent(model)
    x = _target(16)
    a = keras.ops.convert_to_numpy(tent.model(x, training=True))
    b = keras.ops.convert_to_numpy(tent.model(x, training=True))
    np.testing.assert_array_equal(a, b)  # no dropout noise
    inference = keras.ops.convert_to_numpy(model(x, training=False))
    assert not np.allclose(a, inference, atol=1e-3)  # BN used batch statistics
    # Expected: BN with this batch's statistics, everything else in inference.
    bn0 = model.get_layer("bn0")
    z = (x - x.mean(0)) / np.sqrt(x.var(0) + bn0.epsilon)
    backbone = model.get_layer("backbone")
    h = keras.ops.convert_to_numpy(backbone.get_layer("inner_dense")(z))
    bn_inner = backbone.get_layer("bn_inner")
    h = np.maximum((h - h.mean(0)) / np.sqrt(h.var(0) + bn_inner.epsilon), 0)
    expected = keras.ops.convert_to_numpy(model.get_layer("head")(h))
    np.testing.assert_allclose(a, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_fit_without_labels_lowers_entropy_and_trains_only_bn(jit_compile):
    model = _model()
    tent = Tent(model)
    before = _values(model)
    tent.model.compile(optimizer=keras.optimizers.Adam(0.05), jit_compile=jit_compile)
    history = tent.model.fit(_target(), batch_size=16, epochs=3, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < losses[0]
    changed = {p for p, v in _values(model).items() if not np.array_equal(v, before[p])}
    assert {p.split("/")[-1] for p in changed} <= {
        "gamma",
        "beta",
        "moving_mean",
        "moving_variance",
    }
    assert any(p.endswith("gamma") for p in changed)


def test_episodic_reset_and_restore():
    model = _model()
    model.get_layer("head").trainable = False
    flags = {layer.name: layer.trainable for layer in model.layers}
    tent = Tent(model)
    before = _values(model)
    tent.model.compile(optimizer=keras.optimizers.Adam(0.05))
    tent.model.fit(_target(), batch_size=16, epochs=1, verbose=0)
    assert int(keras.ops.convert_to_numpy(tent.model.optimizer.iterations)) == 3
    tent.reset()
    for p, v in _values(model).items():
        np.testing.assert_array_equal(v, before[p])
    assert int(keras.ops.convert_to_numpy(tent.model.optimizer.iterations)) == 0
    slots = [
        keras.ops.convert_to_numpy(v)
        for v in tent.model.optimizer.variables
        if v.name != "learning_rate"
    ]
    assert all(not np.any(s) for s in slots)
    # A reset episode trains from the same state: same first loss again.
    first = tent.model.fit(_target(16), batch_size=16, epochs=1, verbose=0)
    tent.reset()
    again = tent.model.fit(_target(16), batch_size=16, epochs=1, verbose=0)
    assert again.history["loss"] == pytest.approx(first.history["loss"], rel=1e-6)
    tent.restore()
    assert {layer.name: layer.trainable for layer in model.layers} == flags


def test_probabilities_output_detected():
    assert Tent(_model("probs")).from_logits is False
    assert Tent(_model("probs"), from_logits=True).from_logits is True


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision(policy):
    keras.config.set_dtype_policy(policy)
    model = _model()
    tent = Tent(model)
    tent.model.compile(optimizer=keras.optimizers.Adam(0.05), jit_compile=True)
    history = tent.model.fit(_target(), batch_size=16, epochs=2, verbose=0)
    assert tent.model.jit_compile is True
    assert np.isfinite(history.history["loss"]).all()
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.get_layer("bn0").gamma.dtype == "float32"
    optimizer = tent.model.optimizer
    scale_before = [keras.ops.convert_to_numpy(v) for v in optimizer.variables]
    tent.reset()  # resets the inner optimizer only, never the loss scale
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    assert int(keras.ops.convert_to_numpy(inner.iterations)) == 0
    if policy == "mixed_float16":
        assert optimizer is not inner  # Keras wrapped it in a LossScaleOptimizer
        scale = keras.ops.convert_to_numpy(optimizer.dynamic_scale)
        assert scale > 0 and any(np.array_equal(scale, v) for v in scale_before)


def test_bad_input():
    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)], name="plain")
    with pytest.raises(ValueError, match="'plain' has no reachable BatchNormalization"):
        Tent(plain)
    inp = keras.Input((4,))
    x = keras.layers.BatchNormalization()(inp)
    two = keras.Model(inp, [keras.layers.Dense(2)(x), keras.layers.Dense(2)(x)])
    with pytest.raises(ValueError, match="exactly one output"):
        Tent(two)
    with pytest.raises(TypeError, match="`from_logits`"):
        Tent(_model(), from_logits="yes")
    unbuilt = keras.Sequential([keras.layers.BatchNormalization()], name="lazy")
    with pytest.raises(ValueError, match="'lazy' is not built"):
        Tent(unbuilt)


class _Hidden(keras.layers.Layer):
    """A subclassed block hiding a BatchNormalization and a Dropout."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.bn = keras.layers.BatchNormalization()
        self.drop = keras.layers.Dropout(0.9)

    def call(self, x, training=None):
        return self.drop(self.bn(x, training=training), training=training)


def test_opaque_block_warns_and_runs_in_inference_mode():
    inp = keras.Input((6,))
    x = keras.layers.BatchNormalization(name="bn")(inp)
    x = _Hidden(name="hidden")(x)
    model = keras.Model(inp, keras.layers.Dense(3)(x))
    with pytest.warns(UserWarning, match="'hidden'.*HINT"):
        tent = Tent(model, from_logits=True)
    x = _target(16)
    a = keras.ops.convert_to_numpy(tent.model(x, training=True))
    b = keras.ops.convert_to_numpy(tent.model(x, training=True))
    np.testing.assert_array_equal(a, b)  # the hidden Dropout(0.9) stayed off
    assert [layer.name for layer in tent.batchnorm_layers] == ["bn"]
