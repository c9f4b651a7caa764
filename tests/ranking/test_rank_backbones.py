"""`kt.rank_backbones`: tiny Keras candidates whose features we control."""

import keras
import numpy as np
import pytest

import keras_transfer as kt
from keras_transfer.ranking.ranking_result import SCORE_TITLES

SIZE = 8


def _data(n_per_class=12, classes=3, seed=0):
    """Channel 0 carries the class (strongly), channel 1 weakly, channel 2 is noise."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(classes), n_per_class)
    x = rng.normal(0, 1, (len(y), SIZE, SIZE, 3)).astype("float32")
    x[..., 0] += 3.0 * y[:, None, None]
    x[..., 1] += 0.15 * y[:, None, None]
    return x, y


def _reader(channel, name):
    """A "backbone" that sees one channel: a fixed random 1x1 conv of it to 6 maps."""
    inputs = keras.Input((SIZE, SIZE, 3))
    picked = keras.layers.Lambda(lambda t: t[..., channel : channel + 1])(inputs)
    conv = keras.layers.Conv2D(
        6, 1, kernel_initializer=keras.initializers.RandomNormal(seed=1)
    )
    return keras.Model(inputs, conv(picked), name=name)


def test_the_random_feature_control_ranks_last_on_every_score():
    x, y = _data()
    result = kt.rank_backbones(
        x, y, [_reader(2, "noise"), _reader(0, "strong"), _reader(1, "weak")], verbose=0
    )
    assert result.recommended == "strong"
    for key in ("knn", "linear_probe", "logme", "hscore"):
        assert [result.row(n)["ranks"][key] for n in ("strong", "weak", "noise")] == [
            1,
            2,
            3,
        ]
    assert "kNN" in result.rule and "k=10" in result.rule and "5 folds" in result.rule
    row = result.row("strong")
    assert row["status"] == "ok" and row["error"] is None
    assert row["feature_dim"] == 6  # pooled: one value per output map
    assert row["feature_megabytes"] == pytest.approx(36 * 6 * 4 / 2**20)
    assert result.features["strong"].shape == (36, 6)
    assert set(row["seconds"]) == {"load", "extract", "score", "total"}
    assert row["seconds"]["total"] >= row["seconds"]["extract"] > 0
    assert row["scores"]["imagenet_top1"] is None
    assert result.settings["folds"] == 5 and result.settings["class_counts"] == [
        12,
        12,
        12,
    ]


def test_features_are_the_pooled_backbone_output_in_inference_mode():
    x, y = _data(n_per_class=4, classes=2)
    inputs = keras.Input((SIZE, SIZE, 3))
    dropped = keras.layers.Dropout(0.9)(inputs)  # inference mode: no dropout
    model = keras.Model(inputs, dropped, name="identity")
    result = kt.rank_backbones(x, y, [model], verbose=0)
    np.testing.assert_allclose(
        result.features["identity"], x.mean(axis=(1, 2)), rtol=1e-5
    )


def test_a_failing_candidate_is_reported_and_the_others_rank():
    x, y = _data()
    wrong_size = keras.Sequential(
        [keras.Input((16, 16, 3)), keras.layers.Conv2D(2, 3)], name="wrong_size"
    )
    with pytest.warns(UserWarning, match="wrong_size"):
        result = kt.rank_backbones(
            x, y, [wrong_size, _reader(0, "strong"), "NoSuchNet"], verbose=0
        )
    assert result.recommended == "strong"
    for name in ("wrong_size", "NoSuchNet"):
        row = result.row(name)
        assert row["status"] == "failed" and row["ranks"] == {}
        assert all(v is None for k, v in row["scores"].items())
    assert "NoSuchNet" in result.row("NoSuchNet")["error"]
    markdown = result.to_markdown()
    assert "failed: " in markdown and markdown.index("strong") < markdown.index(
        "wrong_size"
    )


def test_tiny_features_are_flagged():
    x, y = _data(n_per_class=4, classes=2)
    inputs = keras.Input((SIZE, SIZE, 3))
    tiny = keras.Model(inputs, keras.layers.Rescaling(1e-9)(inputs), name="tiny")
    with pytest.warns(
        UserWarning, match="'tiny' gives features of mean magnitude.*HINT"
    ):
        result = kt.rank_backbones(x, y, [tiny], verbose=0)
    assert result.row("tiny")["feature_scale"] == pytest.approx(
        np.abs(x.mean(axis=(1, 2))).mean() * 1e-9, rel=1e-4
    )


def test_nothing_runs_nothing_recommended():
    x, y = _data(n_per_class=2, classes=2)
    with pytest.warns(UserWarning):
        result = kt.rank_backbones(x, y, ["NoSuchNet"], verbose=0)
    assert result.recommended is None and "none" in result.rule


@pytest.mark.parametrize(
    "y, message",
    [
        (np.zeros(6, int), "at least 2 classes"),
        (np.array([0, 0, 0, 1, 1, 2]), "at least 2 images per class"),
        (np.array([0.0, 1, 0, 1, 0, 1]), "integer class labels"),
        (np.array([0, 1, 0]), "one per image"),
    ],
)
def test_too_little_data_is_a_clear_error(y, message):
    x = np.zeros((6, SIZE, SIZE, 3), "float32")
    with pytest.raises(ValueError, match=message) as error:
        kt.rank_backbones(x, y, [_reader(0, "a")], verbose=0)
    assert "`y`" in str(error.value) and "Received" in str(error.value)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"rule": "accuracy"}, "`rule`"),
        ({"folds": 1}, "`folds`"),
        ({"weights": {"other": "w.h5"}}, "`weights`"),
        ({"extraction": "fast"}, "`extraction`"),
    ],
)
def test_bad_arguments(kwargs, message):
    x, y = _data(n_per_class=2, classes=2)
    with pytest.raises(ValueError, match=message):
        kt.rank_backbones(x, y, [_reader(0, "a")], verbose=0, **kwargs)


def test_candidates_are_named_and_unique():
    x, y = _data(n_per_class=2, classes=2)
    with pytest.raises(ValueError, match="two entries named 'a'"):
        kt.rank_backbones(x, y, [_reader(0, "a"), _reader(1, "a")], verbose=0)
    with pytest.raises(TypeError, match="`candidates`"):
        kt.rank_backbones(x, y, "EfficientNetLite0", verbose=0)
    with pytest.raises(ValueError, match="at least one"):
        kt.rank_backbones(x, y, [], verbose=0)
    result = kt.rank_backbones(
        x, y, {"first": _reader(0, "a"), "second": _reader(1, "a")}, verbose=0,
        imagenet_top1={"second": 0.9}, rule="imagenet_top1",
    )  # fmt: skip
    assert result.recommended == "second" and "ImageNet" in result.rule
    assert result.row("second")["imagenet_top1_source"] == "imagenet_top1 argument"
    with pytest.raises(KeyError, match="`name`"):
        result.row("third")


def test_rule_imagenet_without_any_known_top1_falls_back_to_knn():
    x, y = _data()
    result = kt.rank_backbones(
        x,
        y,
        [_reader(1, "weak"), _reader(0, "strong")],
        rule="imagenet_top1",
        verbose=0,
    )
    assert result.recommended == "strong" and "kNN" in result.rule


def test_known_imagenet_top1_by_name_and_json_ready_report():
    import json

    x, y = _data(n_per_class=3, classes=2)
    result = kt.rank_backbones(x, y, {"EfficientNetLite0": _reader(0, "a")}, verbose=0)
    row = result.row("EfficientNetLite0")
    assert row["scores"]["imagenet_top1"] == 0.751
    assert "tensorflow/tpu" in row["imagenet_top1_source"]
    report = json.loads(json.dumps(result.as_dict()))
    assert report["recommended"] == "EfficientNetLite0"
    assert set(report["candidates"][0]["scores"]) == set(SCORE_TITLES)
    assert "features" not in report


@pytest.mark.slow
def test_a_name_goes_through_the_fit_backbone_loader(tmp_path):
    """A keras.applications name with a local weights file: preprocessing added."""
    size = 32
    path = str(tmp_path / "mobilenet_v2.weights.h5")
    keras.utils.set_random_seed(1)
    keras.applications.MobileNetV2(
        weights=None, include_top=False, input_shape=(size, size, 3)
    ).save_weights(path)
    rng = np.random.default_rng(0)
    y = np.arange(12) % 2
    x = np.clip(
        rng.normal(60 + 120 * y[:, None, None, None], 30, (12, size, size, 3)), 0, 255
    )
    result = kt.rank_backbones(
        x.astype("float32"),
        y,
        ["MobileNetV2"],
        weights={"MobileNetV2": path},
        verbose=0,
    )
    row = result.row("MobileNetV2")
    assert row["status"] == "ok", row["error"]
    assert row["description"].startswith("keras.applications.MobileNetV2")
    assert row["feature_dim"] == 1280
    # The features are the backbone's on preprocess_input(x) (x / 127.5 - 1).
    backbone = keras.applications.MobileNetV2(
        weights=path, include_top=False, input_shape=(size, size, 3)
    )
    expected = backbone.predict(x / 127.5 - 1.0, verbose=0).mean(axis=(1, 2))
    np.testing.assert_allclose(
        result.features["MobileNetV2"], expected, rtol=1e-3, atol=1e-4
    )
