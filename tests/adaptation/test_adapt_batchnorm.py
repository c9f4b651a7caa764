"""adapt_batchnorm (AdaBN): exact statistics, nothing else touched, bad input."""

import warnings

import keras
import numpy as np
import pytest

import keras_transfer as kt
from keras_transfer.adaptation import AdaBNReport, adapt_batchnorm


def _gaussian(n=50, shape=(6,), mean=3.0, std=2.0, seed=0):
    rng = np.random.default_rng(seed)
    scale = std * np.linspace(0.5, 1.5, shape[-1])
    return (mean + scale * rng.normal(size=(n, *shape))).astype("float32")


def _nested_model():
    """bn0 on the input, a Functional backbone (Conv + bn_inner) and a Sequential block."""
    inner_in = keras.Input((8, 8, 3))
    h = keras.layers.Conv2D(4, 3, name="inner_conv")(inner_in)
    h = keras.layers.BatchNormalization(name="bn_inner")(h)
    inner = keras.Model(inner_in, keras.layers.ReLU()(h), name="backbone")
    block = keras.Sequential(
        [
            keras.layers.Conv2D(5, 3, name="seq_conv"),
            keras.layers.BatchNormalization(name="bn_seq", momentum=0.5),
        ],
        name="block",
    )
    inp = keras.Input((8, 8, 3))
    x = keras.layers.BatchNormalization(name="bn0")(inp)
    x = keras.layers.Dropout(0.3)(x)
    x = block(inner(x))
    out = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(x))
    return keras.Model(inp, out, name="nested"), inner, block


def _values(model):
    return {v.path: keras.ops.convert_to_numpy(v).copy() for v in model.weights}


def _channel_stats(a):
    a = np.asarray(a, np.float64).reshape(-1, a.shape[-1])
    return a.mean(0), a.var(0)


@pytest.mark.parametrize("batch_size", [7, 16, 64])
def test_known_mean_and_variance_on_the_input(batch_size):
    x = _gaussian()
    model = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.BatchNormalization(name="bn"),
            keras.layers.Dense(1),
        ]
    )
    report = adapt_batchnorm(model, x, batch_size=batch_size)
    mean, var = _channel_stats(x)
    bn = model.get_layer("bn")
    np.testing.assert_allclose(bn.moving_mean, mean, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(bn.moving_variance, var, rtol=1e-5)
    assert report == AdaBNReport(
        layers=("bn",), batches=-(-50 // batch_size), samples=50, passes=1
    )


def test_nested_backbones_every_layer_sees_normalized_inputs():
    model, inner, block = _nested_model()
    x = _gaussian(40, (8, 8, 3), mean=-1.0, std=4.0)
    report = adapt_batchnorm(model, (x, np.zeros(40)), batch_size=16)
    assert report.layers == ("bn0", "bn_inner", "bn_seq")
    assert report.passes == 3 and report.samples == 40 and report.batches == 3
    # Expected statistics, computed layer by layer in inference mode.
    bn0 = model.get_layer("bn0")
    np.testing.assert_allclose(bn0.moving_mean, _channel_stats(x)[0], atol=1e-5)
    h = keras.ops.convert_to_numpy(bn0(x, training=False))
    z = keras.ops.convert_to_numpy(inner.get_layer("inner_conv")(h))
    bn_inner = inner.get_layer("bn_inner")
    np.testing.assert_allclose(bn_inner.moving_mean, _channel_stats(z)[0], atol=1e-5)
    np.testing.assert_allclose(
        bn_inner.moving_variance, _channel_stats(z)[1], rtol=1e-4
    )
    h = keras.ops.convert_to_numpy(inner(h, training=False))
    z = keras.ops.convert_to_numpy(block.get_layer("seq_conv")(h))
    bn_seq = block.get_layer("bn_seq")
    np.testing.assert_allclose(bn_seq.moving_mean, _channel_stats(z)[0], atol=1e-5)
    np.testing.assert_allclose(bn_seq.moving_variance, _channel_stats(z)[1], rtol=1e-4)


def test_other_weights_bit_identical_and_layer_state_restored():
    model, inner, block = _nested_model()
    bn_seq = block.get_layer("bn_seq")
    inner.get_layer("bn_inner").trainable = False
    before = _values(model)
    adapt_batchnorm(model, _gaussian(20, (8, 8, 3)))
    after = _values(model)
    changed = {p for p in before if not np.array_equal(before[p], after[p])}
    assert changed == {
        p for p in before if p.endswith(("moving_mean", "moving_variance"))
    }
    assert bn_seq.momentum == 0.5 and bn_seq.trainable
    assert not inner.get_layer("bn_inner").trainable
    assert model.get_layer("bn0").momentum == 0.99


def test_affine_shifted_gaussian_task_accuracy_restored():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 256)
    x = rng.normal(size=(256, 4)).astype("float32") + 1.5 * (2 * y[:, None] - 1)
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.BatchNormalization(epsilon=1e-7),  # exact affine inverse
            keras.layers.Dense(8, activation="relu"),
            keras.layers.BatchNormalization(),
            keras.layers.Dense(2),
        ]
    )
    model.compile(
        keras.optimizers.Adam(0.05),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(x[:192], y[:192], epochs=3, batch_size=32, verbose=0)
    test_x, test_y = x[192:], y[192:]
    shifted = test_x * np.array([3.0, 0.2, 5.0, 1.0], "float32") + 7.0
    adapt_batchnorm(model, x[:192])  # exact source statistics first
    clean_logits = model.predict_on_batch(test_x)
    clean_acc = float(np.mean(clean_logits.argmax(-1) == test_y))
    shifted_acc = float(np.mean(model.predict_on_batch(shifted).argmax(-1) == test_y))
    adapt_batchnorm(model, x[:192] * np.array([3.0, 0.2, 5.0, 1.0], "float32") + 7.0)
    adapted = model.predict_on_batch(shifted)
    adapted_acc = float(np.mean(adapted.argmax(-1) == test_y))
    assert clean_acc > 0.9 and shifted_acc < clean_acc - 0.2
    # A per-feature positive affine shift is undone exactly by the first BN.
    np.testing.assert_allclose(adapted, clean_logits, rtol=1e-3, atol=1e-3)
    assert adapted_acc == pytest.approx(clean_acc)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision(policy):
    keras.config.set_dtype_policy(policy)
    x = _gaussian(32, (5,), mean=2.0, std=3.0)
    model = keras.Sequential(
        [
            keras.Input((5,)),
            keras.layers.Dense(5, name="feat"),
            keras.layers.BatchNormalization(name="bn"),
            keras.layers.Dense(2, dtype="float32"),
        ]
    )
    before = _values(model)
    adapt_batchnorm(model, x)
    bn = model.get_layer("bn")
    assert bn.moving_mean.dtype == "float32"
    h = keras.ops.convert_to_numpy(
        keras.ops.cast(model.get_layer("feat")(x), "float32")
    )
    mean, var = _channel_stats(h)
    np.testing.assert_allclose(bn.moving_mean, mean, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(bn.moving_variance, var, rtol=1e-4)
    for p, v in _values(model).items():
        if "moving" not in p:
            np.testing.assert_array_equal(v, before[p])


@pytest.mark.tensorflow_only
@pytest.mark.parametrize("with_labels", [False, True])
def test_tf_data_with_and_without_labels_and_steps(with_labels):
    import tensorflow as tf

    x = _gaussian(40)
    ds = (x, np.arange(40)) if with_labels else x
    ds = tf.data.Dataset.from_tensor_slices(ds).batch(8)
    model = keras.Sequential(
        [keras.Input((6,)), keras.layers.BatchNormalization(name="bn")]
    )
    report = kt.adapt_batchnorm(model, ds, steps=3)
    assert (report.batches, report.samples) == (3, 24)
    np.testing.assert_allclose(
        model.get_layer("bn").moving_mean, _channel_stats(x[:24])[0], atol=1e-5
    )
    with pytest.raises(ValueError, match="infinite"):
        kt.adapt_batchnorm(model, ds.repeat())


def test_iterable_of_batches_is_cached_for_every_pass():
    model, _, _ = _nested_model()
    x = _gaussian(24, (8, 8, 3))
    report = adapt_batchnorm(model, (x[i : i + 8] for i in range(0, 24, 8)))
    assert (report.passes, report.batches, report.samples) == (3, 3, 24)


class _BlockWithBN(keras.layers.Layer):
    """A subclassed layer hiding a BatchNormalization inside."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.bn = keras.layers.BatchNormalization()

    def call(self, x, training=None):
        return self.bn(x, training=training)


def test_opaque_batchnorm_warns_naming_the_layer():
    inp = keras.Input((4,))
    x = keras.layers.BatchNormalization(name="bn")(inp)
    out = _BlockWithBN(name="opaque_block")(x)
    model = keras.Model(inp, out)
    hidden = model.get_layer("opaque_block").bn
    with pytest.warns(UserWarning, match="'opaque_block'.*HINT"):
        report = adapt_batchnorm(model, _gaussian(16, (4,)))
    assert report.skipped == ("opaque_block",) and report.layers == ("bn",)
    np.testing.assert_array_equal(hidden.moving_mean, np.zeros(4))
    only_opaque = keras.Sequential([keras.Input((4,)), _BlockWithBN(name="only")])
    with pytest.raises(ValueError, match="only inside only"):
        adapt_batchnorm(only_opaque, _gaussian(16, (4,)))


@pytest.mark.tensorflow_only
def test_hub_backbone_batchnorm_is_reported_opaque(tmp_path):
    inner = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3), keras.layers.BatchNormalization()]
    )
    inner.export(str(tmp_path / "sm"), verbose=False)
    inp = keras.Input((4,))
    x = kt.layers.HubBackbone(str(tmp_path / "sm"), name="hub")(inp)
    out = keras.layers.BatchNormalization(name="head_bn")(x)
    model = keras.Model(inp, out)
    with pytest.warns(UserWarning, match="'hub'"):
        report = adapt_batchnorm(model, _gaussian(16, (4,)))
    assert report.layers == ("head_bn",) and report.skipped == ("hub",)


def test_no_batchnorm_error_names_the_model():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)], name="plain")
    with pytest.raises(ValueError, match="'plain' has no reachable BatchNormalization"):
        adapt_batchnorm(model, _gaussian(8, (4,)))


@pytest.mark.parametrize(
    "data, match",
    [
        (np.zeros((0, 6), "float32"), "`data` is empty"),
        (np.zeros((8, 5), "float32"), r"expected per-sample shape \(6,\).*\(5,\)"),
        (np.zeros((8, 6, 1), "float32"), "does not match"),
    ],
)
def test_bad_data(data, match):
    model = keras.Sequential([keras.Input((6,)), keras.layers.BatchNormalization()])
    with pytest.raises(ValueError, match=match):
        adapt_batchnorm(model, data)


def test_bad_model_and_arguments():
    unbuilt = keras.Sequential([keras.layers.BatchNormalization()], name="lazy")
    with pytest.raises(ValueError, match="'lazy' is not built"):
        adapt_batchnorm(unbuilt, _gaussian(8))

    class Sub(keras.Model):
        def __init__(self):
            super().__init__()
            self.bn = keras.layers.BatchNormalization()

        def call(self, x):
            return self.bn(x)

    sub = Sub()
    sub(_gaussian(2))
    with pytest.raises(TypeError, match="Functional or Sequential"):
        adapt_batchnorm(sub, _gaussian(8))
    with pytest.raises(TypeError, match="keras.Model"):
        adapt_batchnorm(keras.layers.BatchNormalization(), _gaussian(8))
    model = keras.Sequential([keras.Input((6,)), keras.layers.BatchNormalization()])
    with pytest.raises(ValueError, match="`steps`"):
        adapt_batchnorm(model, _gaussian(8), steps=0)


def test_adapting_twice_is_idempotent_and_does_not_break_layer_input():
    model, _, _ = _nested_model()
    x = _gaussian(16, (8, 8, 3))
    adapt_batchnorm(model, x)
    first = _values(model)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # Keras's own torch convert_to_numpy trips NumPy 2's copy-keyword
        # DeprecationWarning; any other warning of a second adaptation fails.
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        adapt_batchnorm(model, x)
    for p, v in _values(model).items():
        np.testing.assert_allclose(v, first[p], rtol=1e-5, atol=1e-6)
    # The user's graph is untouched: layer.input / output still answer.
    assert model.get_layer("bn0").output.shape == (None, 8, 8, 3)


def test_multi_input_model_list_and_dict_data():
    a_in, b_in = keras.Input((3,), name="a"), keras.Input((2,), name="b")
    a = keras.layers.BatchNormalization(name="bn_a")(a_in)
    b = keras.layers.BatchNormalization(name="bn_b")(b_in)
    merged = keras.layers.BatchNormalization(name="bn_ab")(
        keras.layers.Concatenate()([a, b])
    )
    model = keras.Model([a_in, b_in], keras.layers.Dense(1)(merged))
    xa, xb = _gaussian(30, (3,)), _gaussian(30, (2,), mean=-4.0, seed=1)
    report = adapt_batchnorm(model, [xa, xb], batch_size=8)
    assert report.layers == ("bn_a", "bn_b", "bn_ab") and report.passes == 2
    np.testing.assert_allclose(
        model.get_layer("bn_b").moving_mean, xb.mean(0), atol=1e-5
    )
    # bn_ab sees the adapted bn_a / bn_b outputs: zero mean, unit-ish variance.
    np.testing.assert_allclose(model.get_layer("bn_ab").moving_mean, 0.0, atol=1e-5)
    first = _values(model)
    adapt_batchnorm(model, {"b": xb, "a": xa})
    for p, v in _values(model).items():
        np.testing.assert_allclose(v, first[p], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="2 input array"):
        adapt_batchnorm(model, xa)


def test_one_pass_mode_equals_exact_when_one_batch_holds_all_data():
    x = _gaussian(40, (8, 8, 3), mean=-1.0, std=4.0)
    exact_model, _, _ = _nested_model()
    adapt_batchnorm(exact_model, x, batch_size=40)
    exact = exact_model.get_weights()
    fast_model, _, _ = _nested_model()
    fast_model.set_weights(exact_model.get_weights())
    report = adapt_batchnorm(fast_model, x, batch_size=40, exact=False)
    assert report.passes == 1 and report.layers == ("bn0", "bn_inner", "bn_seq")
    for got, want in zip(fast_model.get_weights(), exact):  # batch == population stats
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    # With smaller batches only the first-depth layer stays exact.
    fast_model.set_weights(exact_model.get_weights())
    adapt_batchnorm(fast_model, x, batch_size=8, exact=False)
    np.testing.assert_allclose(
        fast_model.get_layer("bn0").moving_variance,
        exact_model.get_layer("bn0").moving_variance,
        rtol=1e-5,
    )
    with pytest.raises(TypeError, match="`exact`"):
        adapt_batchnorm(fast_model, x, exact="yes")
