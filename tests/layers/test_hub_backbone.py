"""HubBackbone: loading, weights, training, structured models, precision, saving.

The SavedModels come from `_savedmodels.py` (known answers documented there).
"""

import keras
import numpy as np
import pytest

tf_only = pytest.mark.tensorflow_only
X2 = np.array([[1.0, 2.0]], "float32")  # half_plus_one: x @ w + b = 2.5


def _hub(path, **kwargs):
    from keras_transfer.layers import HubBackbone

    return HubBackbone(path, **kwargs)


@pytest.mark.skipif(
    keras.backend.backend() == "tensorflow", reason="checks the non-TF error"
)
def test_other_backend_gets_a_clear_error():
    from keras_transfer.layers import HubBackbone

    with pytest.raises(RuntimeError) as info:
        HubBackbone("/any/savedmodel")
    message = str(info.value)
    assert repr(keras.backend.backend()) in message
    assert "KERAS_BACKEND=tensorflow" in message


@tf_only
@pytest.mark.parametrize(
    "trainable,training,arguments,expected",
    [
        (False, False, None, 2.5),
        (False, True, None, 2.5),  # frozen: always inference mode
        (True, False, None, 2.5),
        (True, True, None, 12.5),  # training branch adds 10
        (True, True, {"scale": 3.0}, 3 * 1.5 + 1 + 10),
        (False, False, {"scale": 3.0}, 3 * 1.5 + 1),
    ],
)
def test_half_plus_one_known_answers(
    savedmodel, trainable, training, arguments, expected
):
    layer = _hub(savedmodel("half_plus_one"), trainable=trainable, arguments=arguments)
    assert float(layer(X2, training=training)[0, 0]) == pytest.approx(expected)


@tf_only
def test_weights_follow_the_savedmodel_split_and_the_layer_flag(savedmodel):
    layer = _hub(savedmodel("half_plus_one"), trainable=True)
    assert [w.name for w in layer.weights] == ["w", "b"]
    assert [w.name for w in layer.trainable_weights] == ["w"]
    assert [w.name for w in layer.non_trainable_weights] == ["b"]
    layer.trainable = False
    assert layer.trainable_weights == []
    assert [w.trainable for w in layer.weights] == [False, False]
    assert [w.name for w in layer.non_trainable_weights] == ["w", "b"]
    model = keras.Sequential([keras.Input((2,)), layer])
    assert model.trainable_weights == []
    frozen_at_init = _hub(savedmodel("half_plus_one"))
    assert (
        keras.Sequential([keras.Input((2,)), frozen_at_init]).trainable_variables == []
    )
    layer.trainable = True
    assert [w.name for w in model.trainable_weights] == ["w"]


@tf_only
@pytest.mark.parametrize("trainable", [True, False])
def test_regularization_loss_only_while_trainable(savedmodel, trainable):
    layer = _hub(savedmodel("half_plus_one"), trainable=trainable)
    model = keras.Sequential([keras.Input((2,)), layer])
    model(X2)
    losses = [float(v) for v in model.losses]
    assert losses == ([pytest.approx(0.005)] if trainable else [])


@tf_only
def test_one_sgd_step_matches_the_hand_computed_update(savedmodel):
    # Training output 12.5, mse vs 0 -> d/dw = 2 * 12.5 * x = [25, 50]; plus the
    # regularizer 0.01 * sum(w^2) -> 0.02 * w = 0.01. lr 0.1. b never trains.
    model = keras.Sequential(
        [keras.Input((2,)), _hub(savedmodel("half_plus_one"), trainable=True)]
    )
    model.compile(keras.optimizers.SGD(0.1), "mse")
    model.fit(X2, np.zeros((1, 1)), epochs=1, batch_size=1, verbose=0)
    w, b = (v.numpy() for v in model.layers[0].weights)
    np.testing.assert_allclose(w.ravel(), [0.5 - 2.501, 0.5 - 5.001], rtol=1e-5)
    np.testing.assert_allclose(b, [1.0])


@tf_only
@pytest.mark.parametrize("builder", ["keras_reusable", "keras_exported"])
def test_outputs_equal_the_keras_model_in_sequential_and_functional(
    savedmodel, builder
):
    path, original = savedmodel(builder)
    x = np.random.default_rng(0).random((5, 4)).astype("float32")
    inputs = keras.Input((4,))
    functional = keras.Model(inputs, _hub(path)(inputs))
    sequential = keras.Sequential(
        [keras.Input((4,)), _hub(path), keras.layers.Activation("linear")]
    )
    expected = original(x, training=False).numpy()
    np.testing.assert_allclose(functional.predict(x, verbose=0), expected, rtol=1e-5)
    np.testing.assert_allclose(sequential.predict(x, verbose=0), expected, rtol=1e-5)
    assert functional.output.shape == (None, 2)
    assert sequential.compute_output_shape((None, 4)) == (None, 2)
    if builder == "keras_exported":  # `serve` has no `training` argument
        with pytest.warns(UserWarning, match="no `training` argument.*HINT"):
            trainable = _hub(path, trainable=True)
    else:
        trainable = _hub(path, trainable=True)
    assert len(trainable.trainable_weights) == len(original.trainable_weights) == 6
    assert original.count_params() == 4 * 3 + 3 + 4 * 3 + 3 * 2 + 2
    # model.export() lists the Dropout seed (2 ints) among its `variables`.
    seed = 2 if builder == "keras_exported" else 0
    assert sequential.count_params() == original.count_params() + seed


@tf_only
def test_export_artifact_signature_by_name(savedmodel):
    path, original = savedmodel("keras_exported")
    x = np.ones((2, 4), "float32")
    layer = _hub(path, signature="serving_default")
    np.testing.assert_allclose(layer(x), original(x, training=False), rtol=1e-5)


@tf_only
def test_batchnorm_moving_statistics_train_only_while_trainable(savedmodel):
    path, original = savedmodel("keras_reusable")
    x = np.random.default_rng(1).random((16, 4)).astype("float32") * 5.0
    y = np.zeros((16, 2), "float32")
    for trainable in (False, True):
        layer = _hub(path, trainable=trainable)
        before = {w.name: w.numpy().copy() for w in layer.weights}
        model = keras.Sequential([keras.Input((4,)), layer])
        model.compile(keras.optimizers.SGD(0.01), "mse")
        model.fit(x, y, epochs=1, batch_size=16, verbose=0)
        moved = {
            n: not np.allclose(before[n], w.numpy())
            for n, w in ((w.name, w) for w in layer.weights)
        }
        stats = [n for n in moved if "moving" in n]
        kernels = [n for n in moved if n.endswith("kernel")]
        assert len(stats) == 2 and len(kernels) == 2
        assert all(moved[n] == trainable for n in stats + kernels), moved
    # The SavedModel on disk is untouched: a fresh load gives the original outputs.
    np.testing.assert_allclose(_hub(path)(x), original(x, training=False), rtol=1e-5)


@tf_only
def test_dict_inputs_and_outputs_with_output_key(savedmodel):
    path, original = savedmodel("structured")
    x = {"a": np.ones((2, 3), "float32"), "b": np.full((2, 2), 2.0, "float32")}
    a, b = keras.Input((3,), name="a"), keras.Input((2,), name="b")
    outputs = _hub(path)({"a": a, "b": b})
    assert {k: v.shape for k, v in outputs.items()} == {
        "y1": (None, 1),
        "y2": (None, 2),
    }
    model = keras.Model({"a": a, "b": b}, outputs)
    predicted = model.predict(x, verbose=0)
    expected = original(x)
    for key in ("y1", "y2"):
        np.testing.assert_allclose(predicted[key], expected[key], rtol=1e-5)
    picked = _hub(path, output_key="y2")(x)
    np.testing.assert_allclose(picked, expected["y2"], rtol=1e-5)


@tf_only
def test_list_inputs_and_outputs(savedmodel):
    path, original = savedmodel("list_outputs")
    x = [np.ones((2, 3), "float32"), np.arange(6, dtype="float32").reshape(2, 3)]
    inputs = [keras.Input((3,)), keras.Input((3,))]
    outputs = _hub(path)(inputs)
    assert [o.shape for o in outputs] == [(None, 2), (None, 1)]
    predicted = keras.Model(inputs, outputs).predict(x, verbose=0)
    for got, want in zip(predicted, original(x)):
        np.testing.assert_allclose(got, want, rtol=1e-5)


@tf_only
def test_signatures_pick_output_by_key(savedmodel):
    path = savedmodel("signatures")
    x = np.array([[1.0, 2.0, 3.0]], "float32")
    np.testing.assert_allclose(_hub(path, signature="double")(x), 2 * x)
    both = {"a": x, "b": np.ones_like(x)}
    np.testing.assert_allclose(
        _hub(path, signature="sum_diff", output_key="diff")(both), x - 1
    )


@tf_only
def test_output_shape_known_only_at_run_time(savedmodel):
    layer = _hub(savedmodel("dynamic"))
    inputs = keras.Input((4,))
    outputs = layer(inputs)
    assert outputs.shape == (None, None)
    model = keras.Model(
        inputs, keras.layers.Lambda(lambda t: keras.ops.sum(t, axis=1))(outputs)
    )
    x = np.array([[2.0, 5.0, 7.0, 9.0]], "float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), [7.0])
    x3 = np.array([[3.0, 5.0, 7.0, 9.0]], "float32")
    assert layer(x3).shape == (1, 3)


@tf_only
@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_with_xla_fine_tunes(savedmodel, policy):
    path, original = savedmodel("keras_reusable")
    keras.config.set_dtype_policy(policy)
    backbone = _hub(path, trainable=True)
    model = keras.Sequential(
        [keras.Input((4,)), backbone, keras.layers.Dense(1, dtype="float32")]
    )
    x = np.random.default_rng(2).random((16, 4)).astype("float32")
    out = backbone(x)
    assert out.dtype == backbone.compute_dtype == policy.split("_")[1]
    np.testing.assert_allclose(out, original(x, training=False), rtol=0.05, atol=0.05)
    model.compile(keras.optimizers.SGD(0.1), "mse", jit_compile=True)
    kernel = backbone.weights[0].numpy().copy()
    history = model.fit(x, np.ones((16, 1)), epochs=2, batch_size=8, verbose=0)
    assert model.jit_compile is True
    assert np.all(np.isfinite(history.history["loss"]))
    assert not np.allclose(kernel, backbone.weights[0].numpy())
    assert backbone.weights[0].dtype == "float32"


@tf_only
def test_unfreezing_after_compile_trains_after_retrace(savedmodel):
    import keras_transfer as kt

    path, _ = savedmodel("keras_reusable")
    backbone = _hub(path, trainable=False)
    model = keras.Sequential([keras.Input((4,)), backbone, keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(0.01), "mse")
    x = np.random.default_rng(3).random((16, 4)).astype("float32")
    y = np.ones((16, 1), "float32")
    before = [w.numpy().copy() for w in backbone.weights]
    snapshots = []
    snapshot = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: snapshots.append(
            ([w.numpy().copy() for w in backbone.weights], len(model.losses))
        )
    )
    # Epoch 0 trains the head; GradualUnfreeze then sets `trainable` and re-traces.
    history = model.fit(
        x,
        y,
        epochs=2,
        batch_size=8,
        verbose=0,
        callbacks=[kt.callbacks.GradualUnfreeze(verbose=0), snapshot],
    )
    assert history.history["unfreeze_stage"] == [0, 1]
    (frozen, frozen_losses), (thawed, thawed_losses) = snapshots
    assert all(np.array_equal(a, w) for a, w in zip(before, frozen))
    assert frozen_losses == 0  # the SavedModel's L2 loss only counts while trainable
    changed = {
        w.name: not np.allclose(a, t)
        for a, t, w in zip(before, thawed, backbone.weights)
    }
    kernels = [n for n in changed if n.endswith("kernel")]
    assert kernels and all(changed[n] for n in kernels), changed
    assert thawed_losses == 1  # the Dense(3) L2 regularizer, now that it trains


@tf_only
def test_keras_file_keeps_fine_tuned_weights_and_respects_safe_mode(
    savedmodel, tmp_path
):
    path, _ = savedmodel("keras_reusable")
    model = keras.Sequential(
        [keras.Input((4,)), _hub(path, trainable=True), keras.layers.Dense(1)]
    )
    model.compile(keras.optimizers.SGD(0.1), "mse")
    x = np.random.default_rng(4).random((16, 4)).astype("float32")
    model.fit(x, np.ones((16, 1)), epochs=2, batch_size=8, verbose=0)
    fine_tuned = model.predict(x, verbose=0)
    file = str(tmp_path / "m.keras")
    model.save(file)
    with pytest.raises(ValueError, match="safe_mode=False"):
        keras.models.load_model(file)
    reloaded = keras.models.load_model(file, safe_mode=False)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), fine_tuned, rtol=1e-5)
    fresh_backbone = _hub(path)(x).numpy()
    assert not np.allclose(reloaded.layers[0](x), fresh_backbone)
    assert reloaded.layers[0].trainable is True


@tf_only
def test_config_round_trip(config_round_trip, savedmodel):
    keras.config.enable_unsafe_deserialization()  # reset by clear_session per test
    layer = _hub(
        savedmodel("half_plus_one"),
        trainable=True,
        arguments={"scale": 3.0},
        name="hub",
    )
    restored = config_round_trip(layer)
    config = restored.get_config()
    assert config["arguments"] == {"scale": 3.0} and config["trainable"] is True
    assert float(restored(X2)[0, 0]) == pytest.approx(5.5)


@tf_only
def test_is_one_layer_group(savedmodel):
    import keras_transfer as kt

    path, _ = savedmodel("keras_reusable")
    backbone = _hub(path, trainable=True)
    model = keras.Sequential([keras.Input((4,)), backbone, keras.layers.Dense(1)])
    groups = kt.layer_groups(model)
    owners = [g for g in groups if backbone in g.layers]
    assert len(owners) == 1 and owners[0].layers == (backbone,)
    assert len(owners[0].weights) == len(backbone.weights)


_MIRRORED_SCRIPT = """
import sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras, numpy as np
from keras_transfer.layers import HubBackbone
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    layer = HubBackbone(sys.argv[1], trainable=True)
    model = keras.Sequential([keras.Input((2,)), layer])
    model.compile(keras.optimizers.SGD(0.1), "mse")
model.fit(np.array([[1.0, 2.0]] * 2, "float32"), np.zeros((2, 1)), batch_size=2, verbose=0)
print("RESULT", type(layer.weights[0].value).__name__, *layer.weights[0].numpy().ravel())
"""


@tf_only
def test_mirrored_strategy_one_step_matches_single_device(savedmodel):
    # Same known answer as the single-device SGD step: each replica sees one of
    # two identical samples, and the all-reduced update equals the local one.
    import os
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", _MIRRORED_SCRIPT, savedmodel("half_plus_one")],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, KERAS_BACKEND="tensorflow"),
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT")]
    assert lines, result.stdout[-2000:] + result.stderr[-3000:]
    _, kind, w0, w1 = lines[-1].split()
    assert kind == "MirroredVariable"
    np.testing.assert_allclose(
        [float(w0), float(w1)], [0.5 - 2.501, 0.5 - 5.001], rtol=1e-5
    )


@tf_only
@pytest.mark.parametrize("training,expected", [(True, 12.5), (False, 2.5)])
def test_training_as_a_tensor(savedmodel, training, expected):
    import tensorflow as tf

    layer = _hub(savedmodel("half_plus_one"), trainable=True)
    assert float(layer(X2, training=tf.constant(training))[0, 0]) == pytest.approx(
        expected
    )


@tf_only
def test_model_with_a_hub_backbone_exports_again(savedmodel, tmp_path):
    path, _ = savedmodel("keras_reusable")
    model = keras.Sequential([keras.Input((4,)), _hub(path), keras.layers.Dense(1)])
    x = np.random.default_rng(5).random((3, 4)).astype("float32")
    model.export(str(tmp_path / "served"), verbose=0)
    reloaded = _hub(str(tmp_path / "served"))
    np.testing.assert_allclose(reloaded(x), model.predict(x, verbose=0), rtol=1e-5)
