import keras
import numpy as np
import pytest

from keras_transfer.metrics import BalancedAccuracy


def _by_hand(y_true, predicted, num_classes):
    recalls = [
        np.mean(predicted[y_true == c] == c)
        for c in range(num_classes)
        if np.any(y_true == c)
    ]
    return float(np.mean(recalls))


def test_known_answer_over_several_batches():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 4, 50)
    y_true[y_true == 3] = 0  # class 3 never appears: left out of the mean
    logits = rng.normal(size=(50, 4)).astype("float32")
    metric = BalancedAccuracy(num_classes=4)
    for start in range(0, 50, 16):
        metric.update_state(y_true[start : start + 16], logits[start : start + 16])
    expected = _by_hand(y_true, logits.argmax(-1), 4)
    assert abs(float(metric.result()) - expected) < 1e-6
    assert expected != pytest.approx(
        np.mean(logits.argmax(-1) == y_true)
    )  # not accuracy
    metric.reset_state()
    assert float(metric.result()) == 0.0


def test_one_hot_labels_and_class_constant_weights_give_the_same_answer():
    y_true = np.array([0, 0, 0, 1, 1, 2])
    y_pred = np.eye(3)[[0, 1, 0, 1, 0, 2]].astype("float32")
    sparse = BalancedAccuracy(3)
    sparse.update_state(y_true, y_pred)
    one_hot = BalancedAccuracy(3, sparse=False)
    one_hot.update_state(
        np.eye(3)[y_true], y_pred, sample_weight=np.array([2, 2, 2, 5, 5, 1.0])
    )
    expected = (2 / 3 + 1 / 2 + 1) / 3
    assert float(sparse.result()) == pytest.approx(expected)
    assert float(one_hot.result()) == pytest.approx(expected)


def test_in_fit_and_config_round_trip(config_round_trip):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)])
    model.compile(
        "sgd", "sparse_categorical_crossentropy", metrics=[BalancedAccuracy(3)]
    )
    x = np.ones((6, 2), "float32")
    logs = model.evaluate(x, np.array([0, 0, 0, 1, 1, 2]), return_dict=True, verbose=0)
    # every row gets the same prediction: one class fully right, the others 0
    assert logs["balanced_accuracy"] == pytest.approx(1 / 3)
    config_round_trip(BalancedAccuracy(5, sparse=False, name="bacc"))


def test_bad_num_classes():
    with pytest.raises(
        ValueError,
        match=r"`num_classes` must be an integer >= 2.*Received: num_classes=1",
    ):
        BalancedAccuracy(1)


def test_keras_file_keeps_the_metric(tmp_path):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)])
    model.compile(
        "sgd", "sparse_categorical_crossentropy", metrics=[BalancedAccuracy(3)]
    )
    x, y = np.eye(3, 2, dtype="float32"), np.array([0, 1, 2])
    before = model.evaluate(x, y, return_dict=True, verbose=0)["balanced_accuracy"]
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    after = loaded.evaluate(x, y, return_dict=True, verbose=0)
    assert after["balanced_accuracy"] == pytest.approx(before)
