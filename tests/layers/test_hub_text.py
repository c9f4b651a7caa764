"""HubBackbone on text: a BERT-style preprocess SavedModel and encoder SavedModel.

Composed as in TF Hub's "Classify text with BERT" tutorial: string input ->
preprocess HubBackbone -> encoder HubBackbone (trainable) -> `pooled_output`
-> Dense. Both SavedModels are tiny and written by `_savedmodels.py`.
"""

import keras
import numpy as np
import pytest

pytestmark = pytest.mark.tensorflow_only
# As object arrays: Keras's array adapter takes numpy strings of dtype object.
TEXT = np.array(
    [
        "the movie was great",
        "good fun",
        "boring plot",
        "very bad awful movie",
        "great great movie",
        "the plot was awful",
        "fun and good",
        "bad boring movie",
    ]
    * 2,
    dtype=object,
)
LABELS = np.array([1, 1, 0, 0, 1, 0, 1, 0] * 2)


def _hub(path, **kwargs):
    from keras_transfer.layers import HubBackbone

    return HubBackbone(path, **kwargs)


def _classifier(savedmodel):
    """The tutorial's model: text -> preprocess -> encoder -> pooled_output -> Dense(2)."""
    text = keras.Input(shape=(), dtype="string", name="text")
    preprocess = _hub(savedmodel("bert_preprocess"), name="preprocessing")
    encoder = _hub(savedmodel("bert_encoder")[0], trainable=True, name="BERT_encoder")
    outputs = encoder(preprocess(text))
    logits = keras.layers.Dense(2, name="classifier")(outputs["pooled_output"])
    return keras.Model(text, logits), encoder


def test_preprocess_known_ids(savedmodel):
    import tensorflow as tf

    layer = _hub(savedmodel("bert_preprocess"))
    ids = layer(tf.constant(["The movie was GREAT", "zzz plot", "very " * 9]))
    np.testing.assert_array_equal(
        ids["input_word_ids"],
        [[2, 4, 5, 6, 7, 3, 0, 0], [2, 1, 13, 3, 0, 0, 0, 0], [2] + [14] * 6 + [3]],
    )
    np.testing.assert_array_equal(
        ids["input_mask"], [[1] * 6 + [0] * 2, [1] * 4 + [0] * 4, [1] * 8]
    )
    np.testing.assert_array_equal(ids["input_type_ids"], np.zeros((3, 8)))
    assert ids["input_word_ids"].dtype == "int32"


def test_encoder_outputs_equal_the_keras_model(savedmodel):
    path, original = savedmodel("bert_encoder")
    ids = _hub(savedmodel("bert_preprocess"))(np.array(TEXT[:4]))
    outputs = _hub(path)(ids)
    expected = original(ids, training=False)
    for key in ("pooled_output", "sequence_output", "default"):
        np.testing.assert_allclose(outputs[key], expected[key], rtol=1e-5, atol=1e-6)
    for got, want in zip(outputs["encoder_outputs"], expected["encoder_outputs"]):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_classifier_shapes_follow_the_tutorial(savedmodel):
    model, encoder = _classifier(savedmodel)
    assert model.output_shape == (None, 2)
    preprocess = model.get_layer("preprocessing")
    assert preprocess.weights == [] and len(encoder.trainable_weights) == 22
    ids = preprocess(keras.Input(shape=(), dtype="string"))
    assert {k: (v.shape, v.dtype) for k, v in ids.items()} == {
        k: ((None, 8), "int32")
        for k in ("input_word_ids", "input_mask", "input_type_ids")
    }


def test_string_savedmodels_turn_xla_off_as_keras_string_layers_do(savedmodel):
    model, encoder = _classifier(savedmodel)
    assert model.get_layer("preprocessing").supports_jit is False
    assert encoder.supports_jit is True
    with pytest.warns(UserWarning, match="doesn't support `jit_compile=True`"):
        model.compile("adam", "mse", jit_compile=True)
    assert model.jit_compile is False
    model.fit(TEXT[:8], np.zeros((8, 2)), epochs=1, verbose=0)


def test_fine_tunes_with_gradual_unfreeze_and_layerwise_lr_and_round_trips(
    savedmodel, tmp_path
):
    import keras_transfer as kt

    model, encoder = _classifier(savedmodel)
    encoder.trainable = False  # GradualUnfreeze thaws it after the head's epoch
    optimizer = kt.optimizers.LayerwiseLR(
        keras.optimizers.Adam(1e-2), decay=0.5, model=model
    )
    model.compile(
        optimizer,
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    start = [w.numpy().copy() for w in encoder.weights]
    snapshots = []
    snapshot = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: snapshots.append(
            [w.numpy().copy() for w in encoder.weights]
        )
    )
    history = model.fit(
        TEXT,
        LABELS,
        epochs=2,
        batch_size=8,
        verbose=0,
        callbacks=[kt.callbacks.GradualUnfreeze(verbose=0), snapshot],
    )
    assert history.history["unfreeze_stage"] == [0, 1]
    assert history.history["trainable_weights"] == [2, 24]  # head, then + encoder
    assert all(np.array_equal(a, b) for a, b in zip(start, snapshots[0]))
    assert not all(np.allclose(a, b) for a, b in zip(start, snapshots[1]))
    fine_tuned = model.predict(TEXT, verbose=0)
    file = str(tmp_path / "text_classifier.keras")
    model.save(file)
    reloaded = keras.models.load_model(file, safe_mode=False)
    np.testing.assert_allclose(
        reloaded.predict(TEXT, verbose=0), fine_tuned, rtol=1e-5, atol=1e-6
    )
    fresh, _ = _classifier(savedmodel)  # the pretrained encoder: other predictions
    fresh.get_layer("classifier").set_weights(
        model.get_layer("classifier").get_weights()
    )
    assert not np.allclose(fresh.predict(TEXT, verbose=0), fine_tuned, atol=1e-4)
