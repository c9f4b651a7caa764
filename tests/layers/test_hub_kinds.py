"""HubBackbone on every kind of SavedModel users load from TF Hub / Kaggle.

Functions without `training`, call-time `arguments` choosing dict outputs,
output shapes and specs read from the SavedModel, `signature` vs `function`,
TF1 Hub format modules and Keras 2 (`tf_keras`) SavedModels. The SavedModels
come from `_savedmodels.py` (known answers documented there).
"""

import keras
import numpy as np
import pytest

pytestmark = pytest.mark.tensorflow_only
X12 = np.array([[1.0, 2.0]], "float32")  # return_dict: x @ w = 5; half_plus_one: 2.5


def _hub(path, **kwargs):
    from keras_transfer.layers import HubBackbone

    return HubBackbone(path, **kwargs)


def _path(built):
    return built[0] if isinstance(built, tuple) else built


def test_function_without_training_with_dict_inputs_and_dict_outputs(savedmodel):
    path = savedmodel("return_dict")
    inputs = {"x": keras.Input((2,), name="x"), "y": keras.Input((1,), name="y")}
    layer = _hub(path, arguments={"return_dict": True})
    outputs = layer(inputs)
    assert {k: v.shape for k, v in outputs.items()} == {
        "out": (None, 1),
        "twice": (None, 1),
    }
    model = keras.Model(inputs, outputs)
    data = {"x": X12, "y": np.array([[1.0]], "float32")}
    predicted = model.predict(data, verbose=0)
    np.testing.assert_allclose(predicted["out"], [[6.0]])
    np.testing.assert_allclose(predicted["twice"], [[12.0]])
    eager = layer(data, training=True)  # `training` is not forwarded: no error
    np.testing.assert_allclose(eager["twice"], [[12.0]])
    assert layer.arguments == {"return_dict": True}
    plain = keras.Model(inputs, _hub(path)(inputs))  # return_dict=False: a tensor
    np.testing.assert_allclose(plain.predict(data, verbose=0), [[6.0]])


@pytest.mark.parametrize(
    "arguments,output_key,expected",
    [
        (None, None, 5.0),
        ({"return_dict": True}, "twice", 10.0),
        ({"return_dict": True}, "out", 5.0),
    ],
)
def test_outputs_picked_by_arguments_in_sequential(
    savedmodel, arguments, output_key, expected
):
    layer = _hub(savedmodel("return_dict"), arguments=arguments, output_key=output_key)
    model = keras.Sequential(
        [keras.Input((2,)), layer, keras.layers.Activation("linear")]
    )
    assert model.output_shape == (None, 1)
    np.testing.assert_allclose(model.predict(X12, verbose=0), [[expected]])


def test_dict_outputs_as_the_last_layer_of_a_sequential(savedmodel):
    layer = _hub(savedmodel("return_dict"), arguments={"return_dict": True})
    model = keras.Sequential([keras.Input((2,)), layer])
    assert model.compute_output_shape((None, 2)) == {
        "out": (None, 1),
        "twice": (None, 1),
    }
    predicted = model.predict(X12, verbose=0)
    np.testing.assert_allclose(predicted["out"], [[5.0]])
    np.testing.assert_allclose(predicted["twice"], [[10.0]])


def test_fine_tunes_a_function_without_training_argument(savedmodel):
    # pred = x @ w = 5, mse vs 0: d/dw = 2 * 5 * x = [10, 20]; SGD(0.01).
    with pytest.warns(UserWarning, match="no `training` argument"):
        layer = _hub(
            savedmodel("return_dict"), trainable=True, arguments={"return_dict": False}
        )
    model = keras.Sequential([keras.Input((2,)), layer])
    model.compile(keras.optimizers.SGD(0.01), "mse")
    model.fit(X12, np.zeros((1, 1)), epochs=1, batch_size=1, verbose=0)
    np.testing.assert_allclose(layer.weights[0].numpy().ravel(), [0.9, 1.8], rtol=1e-6)


def test_unknown_argument_lists_what_the_function_accepts(savedmodel):
    with pytest.raises(ValueError, match=r"`arguments` has \['scale'\]") as info:
        _hub(savedmodel("return_dict"), arguments={"scale": 2.0})
    assert "it accepts: ['return_dict']" in str(info.value)
    with pytest.raises(ValueError, match="and `training`, it accepts: \\['scale'\\]"):
        _hub(savedmodel("half_plus_one"), arguments={"return_dict": True})
    with pytest.raises(ValueError, match="must not set `training`"):
        _hub(savedmodel("half_plus_one"), arguments={"training": True})


@pytest.mark.parametrize(
    "builder,kwargs,input_shape,expected",
    [
        ("half_plus_one", {}, (10, 2), (10, 1)),
        ("half_plus_one", {}, (None, 2), (None, 1)),
        ("keras_reusable", {}, (10, 4), (10, 2)),
        ("keras_exported", {}, (10, 4), (10, 2)),
        ("dynamic", {}, (3, 4), (3, None)),
        (
            "return_dict",
            {"arguments": {"return_dict": True}},
            {"x": (7, 2), "y": (7, 1)},
            {"out": (7, 1), "twice": (7, 1)},
        ),
        (
            "return_dict",
            {"arguments": {"return_dict": True}, "output_key": "twice"},
            (7, 2),
            (7, 1),
        ),
        ("return_dict", {}, (7, 2), (7, 1)),  # the default return_dict=False
        ("return_dict", {}, {"x": (7, 2), "y": (7, 1)}, (7, 1)),
        ("structured", {}, {"a": (5, 3), "b": (5, 2)}, {"y1": (5, 1), "y2": (5, 2)}),
        ("list_outputs", {}, [(5, 3), (5, 3)], [(5, 2), (5, 1)]),
        (
            "signatures",
            {"signature": "sum_diff", "output_key": "sum"},
            {"a": (2, 3), "b": (2, 3)},
            (2, 3),
        ),
        ("tf1_hub_module", {}, (4, 2), (4, 1)),
        (
            "bert_preprocess",
            {},
            (6,),
            {k: (6, 8) for k in ("input_word_ids", "input_mask", "input_type_ids")},
        ),
    ],
)
def test_compute_output_shape_from_the_savedmodel_specs(
    savedmodel, builder, kwargs, input_shape, expected
):
    assert (
        _hub(_path(savedmodel(builder)), **kwargs).compute_output_shape(input_shape)
        == expected
    )


def test_compute_output_spec_nested_dtypes_and_precision(savedmodel):
    preprocess = _hub(savedmodel("bert_preprocess"))
    text = keras.KerasTensor((3,), dtype="string")
    ids = preprocess.compute_output_spec(text)
    assert {k: (v.shape, v.dtype) for k, v in ids.items()} == {
        k: ((3, 8), "int32") for k in ("input_word_ids", "input_mask", "input_type_ids")
    }
    keras.config.set_dtype_policy("mixed_float16")
    encoder = _hub(_path(savedmodel("bert_encoder")))
    outputs = encoder.compute_output_spec(ids)
    assert sorted(outputs) == [
        "default",
        "encoder_outputs",
        "pooled_output",
        "sequence_output",
    ]
    assert [(t.shape, t.dtype) for t in outputs["encoder_outputs"]] == [
        ((3, 8, 8), "float16")
    ] * 2
    assert (outputs["pooled_output"].shape, outputs["pooled_output"].dtype) == (
        (3, 8),
        "float16",
    )
    assert encoder.compute_output_shape({k: (3, 8) for k in ids})[
        "encoder_outputs"
    ] == [(3, 8, 8), (3, 8, 8)]


def test_compute_output_shape_checks_the_inputs(savedmodel):
    with pytest.raises(ValueError, match="size 3 on axis 1, expected 2"):
        _hub(savedmodel("half_plus_one")).compute_output_shape((10, 3))


def test_signature_means_a_savedmodel_signature(savedmodel):
    path = savedmodel("plus_one")
    x = np.zeros((1, 3), "float32")
    by_signature = _hub(path, signature="plus_one", output_key="output_0")
    np.testing.assert_allclose(by_signature(x), x + 1)
    assert _hub(path, signature="plus_one").compute_output_shape((2, 3)) == (2, 3)
    by_function = _hub(path, function="plus_one")
    np.testing.assert_allclose(by_function(x), x + 1)
    with pytest.raises(ValueError, match="returns a dict"):
        _hub(path, function="plus_one", output_key="output_0")
    assert _hub(path, function="times_two").get_config()["function"] == "times_two"


def test_config_round_trip_with_function(config_round_trip, savedmodel):
    keras.config.enable_unsafe_deserialization()  # reset by clear_session per test
    restored = config_round_trip(_hub(savedmodel("plus_one"), function="times_two"))
    assert restored.get_config()["function"] == "times_two"
    np.testing.assert_allclose(restored(np.ones((1, 3), "float32")), [[2.0, 2.0, 2.0]])


def test_signature_naming_only_a_function_still_works_with_a_warning(savedmodel):
    x = np.ones((1, 3), "float32")
    with pytest.warns(UserWarning, match="pass that instead") as record:
        layer = _hub(savedmodel("plus_one"), signature="times_two")
    assert "function='times_two'" in str(record[0].message)
    np.testing.assert_allclose(layer(x), 2 * x)


@pytest.mark.parametrize("kwargs", [{"signature": "nope"}, {"function": "nope"}])
def test_unknown_name_lists_signatures_and_functions_separately(savedmodel, kwargs):
    (arg,) = kwargs
    with pytest.raises(ValueError, match=f"Unknown `{arg}` 'nope'") as info:
        _hub(savedmodel("plus_one"), **kwargs)
    message = str(info.value)
    assert "signatures (pass as `signature`): ['plus_one']" in message
    assert (
        "tf.function attributes (pass as `function`): ['plus_one', 'times_two']"
        in message
    )


def test_signature_and_function_together_is_an_error(savedmodel):
    with pytest.raises(ValueError, match="not both"):
        _hub(savedmodel("plus_one"), signature="plus_one", function="plus_one")


def test_tf1_hub_module_runs_frozen(savedmodel, tmp_path):
    path = savedmodel("tf1_hub_module")
    layer = _hub(path)
    assert layer.tf1_format is True
    assert float(layer(X12)[0, 0]) == pytest.approx(2.5)
    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Dense(1)(layer(inputs)))
    model.compile(keras.optimizers.SGD(0.1), "mse")
    model.fit(X12, np.ones((1, 1)), epochs=1, verbose=0)
    np.testing.assert_allclose(layer.weights[0].numpy(), [[0.5], [0.5]])
    layer.trainable = True  # e.g. GradualUnfreeze: still nothing to train
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 1
    file = str(tmp_path / "tf1.keras")
    model.save(file)
    reloaded = keras.models.load_model(file, safe_mode=False)
    np.testing.assert_allclose(
        reloaded.predict(X12, verbose=0), model.predict(X12, verbose=0)
    )
    assert (
        reloaded.layers[1].trainable is True
        and reloaded.layers[1].trainable_weights == []
    )


def test_tf1_hub_module_cannot_be_fine_tuned(savedmodel):
    with pytest.raises(
        ValueError, match="TF1-format modules cannot be fine-tuned in TF2"
    ) as info:
        _hub(savedmodel("tf1_hub_module"), trainable=True)
    message = str(info.value)
    assert "trainable=False" in message and "TF2 SavedModel version" in message


def test_tf_keras_savedmodel_loads_and_fine_tunes_like_tf_keras(tmp_path):
    # The tf_keras model trains itself one SGD step; HubBackbone over its
    # SavedModel must take the same step (training forwarded to BatchNorm,
    # the L2 loss added), from the same starting weights.
    from _savedmodels import tf_keras_savedmodel

    path, original = tf_keras_savedmodel(str(tmp_path / "tf_keras"))
    x = np.array([[1.0, 2.0], [3.0, 1.0], [0.0, 1.0]], "float32")
    y = np.array([[1.0], [0.0], [2.0]], "float32")
    layer = _hub(path, trainable=True)
    np.testing.assert_allclose(layer(x), original.predict(x, verbose=0), rtol=1e-6)
    # Batch statistics in training (a second copy: this updates moving stats).
    in_training = _hub(path, trainable=True)(x, training=True).numpy().ravel()
    batch = x @ np.array([0.5, 0.5]) + 1.0
    expected = (batch - batch.mean()) / np.sqrt(batch.var() + 1e-3)
    np.testing.assert_allclose(in_training, expected, rtol=1e-5)
    assert len(layer.trainable_weights) == 4  # kernel, bias, gamma, beta
    model = keras.Sequential([keras.Input((2,)), layer])
    model(x)
    assert [float(v) for v in model.losses] == [pytest.approx(0.05)]
    model.compile(keras.optimizers.SGD(0.1), "mse")
    model.fit(x, y, epochs=1, batch_size=3, verbose=0)
    import tf_keras

    original.compile(tf_keras.optimizers.SGD(0.1), "mse")
    original.train_on_batch(x, y)
    want = {w.name.split(":")[0].replace("/", "_"): w.numpy() for w in original.weights}
    got = {w.name: w.numpy() for w in layer.weights}
    assert sorted(got) == sorted(want)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-5, err_msg=name)
    assert not np.allclose(want["dense_kernel"], [[0.5], [0.5]])
