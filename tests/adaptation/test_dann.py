"""build_dann + dann_data: two-headed model trained by a plain fit()."""

import keras
import numpy as np
import pytest

from keras_transfer.adaptation import GradientReversal, build_dann, dann_data


def _features():
    return keras.Sequential(
        [keras.Input((5,)), keras.layers.Dense(8, activation="relu")], name="features"
    )


def _compile(model):
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss={
            "label": keras.losses.SparseCategoricalCrossentropy(
                from_logits=True, ignore_class=-1
            ),
            "domain": keras.losses.BinaryCrossentropy(from_logits=True),
        },
    )


def test_dann_data_layout():
    x, y = dann_data(np.zeros((3, 2)), np.array([2, 0, 1]), np.ones((2, 2)))
    assert x.shape == (5, 2)
    assert y["label"].tolist() == [2, 0, 1, -1, -1]
    assert y["domain"].ravel().tolist() == [0, 0, 0, 1, 1]
    assert y["domain"].shape == (5, 1) and y["domain"].dtype == np.float32


def test_fit_trains_both_heads_and_counts_steps():
    rng = np.random.default_rng(0)
    xs, ys = rng.normal(size=(48, 5)), rng.integers(0, 3, 48)
    xt = rng.normal(2.0, 1.0, (16, 5))
    model = build_dann(_features(), num_classes=3, schedule_steps=8)
    grl = model.get_layer("gradient_reversal")
    assert isinstance(grl, GradientReversal) and grl.schedule_steps == 8
    _compile(model)
    x, y = dann_data(xs, ys, xt)
    model.fit(x, y, batch_size=16, epochs=2, verbose=0)  # 4 steps per epoch
    assert int(keras.ops.convert_to_numpy(grl.step)) == 8
    out = model.predict(x[:4], verbose=0)
    assert out["label"].shape == (4, 3) and out["domain"].shape == (4, 1)


def test_target_rows_do_not_enter_the_label_loss():
    rng = np.random.default_rng(1)
    xs, ys = rng.normal(size=(8, 5)).astype("float32"), rng.integers(0, 3, 8)
    model = build_dann(_features(), num_classes=3)
    _compile(model)
    x, y = dann_data(xs, ys, rng.normal(size=(8, 5)).astype("float32"))
    logits = model.predict(x, verbose=0)["label"][:8]
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    expected = -np.mean(log_p[np.arange(8), ys])
    results = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    assert results["label_loss"] == pytest.approx(expected, rel=1e-4)


def test_mixed_precision_outputs_float32():
    keras.config.set_dtype_policy("mixed_float16")
    model = build_dann(_features(), num_classes=2)
    assert model.output["label"].dtype == "float32"
    assert model.output["domain"].dtype == "float32"


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"num_classes": 1}, ValueError, "`num_classes`"),
        ({"num_classes": 3, "domain_units": (0,)}, ValueError, "`domain_units`"),
    ],
)
def test_bad_build_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        build_dann(_features(), **kwargs)


def test_bad_feature_extractor_and_data():
    with pytest.raises(TypeError, match="`feature_extractor`"):
        build_dann(keras.layers.Dense(3), num_classes=3)
    image = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Conv2D(2, 3)])
    with pytest.raises(ValueError, match="rank 2"):
        build_dann(image, num_classes=3)
    with pytest.raises(ValueError, match="same per-sample shape"):
        dann_data(np.zeros((2, 3)), np.array([0, 1]), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="`y_source`"):
        dann_data(np.zeros((2, 3)), np.array([0.5, 1.0]), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="must not be empty"):
        dann_data(np.zeros((2, 3)), np.array([0, 1]), np.zeros((0, 3)))
