"""Tests for keras_transfer.layer_groups and LayerGroup."""

import keras
import pytest

import keras_transfer as kt


def _tiny_nested():
    backbone = keras.Sequential(
        [
            keras.Input((8,)),
            keras.layers.Dense(4, name="block1_dense"),
            keras.layers.BatchNormalization(name="block1_bn"),
            keras.layers.Dense(4, name="block2_dense"),
            keras.layers.Dense(3, name="top_conv"),
            keras.layers.BatchNormalization(name="top_bn"),
        ],
        name="backbone",
    )
    model = keras.Sequential(
        [backbone, keras.layers.Dropout(0.1), keras.layers.Dense(1, name="head")]
    )
    return model, backbone


def test_nested_groups_top_first_with_known_params():
    model, _ = _tiny_nested()
    groups = kt.layer_groups(model)
    assert [g.name for g in groups] == ["head", "top_conv", "block2", "block1"]
    assert [[layer.name for layer in g.layers] for g in groups] == [
        ["head"],
        ["top_conv", "top_bn"],
        ["block2_dense"],
        ["block1_dense", "block1_bn"],
    ]
    # head 3*1+1; top 4*3+3 + 4*3 (bn); block2 4*4+4; block1 8*4+4 + 4*4 (bn)
    assert [g.count_params() for g in groups] == [4, 27, 20, 52]
    assert sum(g.count_params() for g in groups) == model.count_params()


def test_every_weight_in_exactly_one_group():
    model, _ = _tiny_nested()
    ids = [id(w) for g in kt.layer_groups(model) for w in g.weights]
    assert len(ids) == len(set(ids))
    assert set(ids) == {id(w) for w in model.weights}


def test_trainable_weights_follow_flags():
    model, backbone = _tiny_nested()
    backbone.trainable = False
    groups = kt.layer_groups(model)
    assert [len(g.trainable_weights) for g in groups] == [2, 0, 0, 0]
    assert [len(g.weights) for g in groups] == [2, 6, 2, 6]


def test_repr_and_summary():
    model, _ = _tiny_nested()
    groups = kt.layer_groups(model)
    assert repr(groups[1]) == "LayerGroup('top_conv', layers=2, params=27)"
    assert isinstance(groups, list)
    lines = []
    groups.summary(print_fn=lines.append)
    table = lines[0].splitlines()
    assert table[0] == "4 layer groups, top (nearest the output) first:"
    assert table[2].split() == ["0", "head", "1", "4", "4"]
    assert str(groups) == lines[0]


def test_mobilenetv2_natural_blocks():
    base = keras.applications.MobileNetV2(
        weights=None, input_shape=(32, 32, 3), alpha=0.35, include_top=False
    )
    model = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            base,
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3, name="head"),
        ]
    )
    groups = kt.layer_groups(model)
    names = [g.name for g in groups]
    assert names == (
        ["head", "Conv_1"]
        + [f"block_{i}" for i in range(16, 0, -1)]
        + ["expanded_conv", "Conv1"]
    )
    by_name = {g.name: g for g in groups}
    assert [layer.name for layer in by_name["block_16"].layers] == [
        f"block_16_{part}"
        for part in (
            "expand",
            "expand_BN",
            "depthwise",
            "depthwise_BN",
            "project",
            "project_BN",
        )
    ]
    assert [layer.name for layer in by_name["Conv1"].layers] == ["Conv1", "bn_Conv1"]
    assert sum(g.count_params() for g in groups) == model.count_params()


@pytest.mark.parametrize(
    "names, expected",
    [
        (
            ["conv5_block2_1_conv", "conv5_block2_1_bn", "conv5_block3_1_conv"],
            ["conv5_block3", "conv5_block2"],
        ),
        (
            ["block7a_expand_conv", "block7a_bn", "block7b_se_reduce"],
            ["block7b", "block7a"],
        ),
        (["block4_conv1", "block5_conv1", "block5_conv2"], ["block5", "block4"]),
        (
            ["stack3_block1_conv", "stack3_block2_conv"],
            ["stack3_block2", "stack3_block1"],
        ),
        (
            [
                "convnext_tiny_stage_3_block_1_depthwise_conv",
                "convnext_tiny_stage_3_block_2_depthwise_conv",
            ],
            ["convnext_tiny_stage_3_block_2", "convnext_tiny_stage_3_block_1"],
        ),
        (
            ["conv_dw_12", "conv_dw_12_bn", "conv_pw_12", "conv_dw_13"],
            ["conv_13", "conv_12"],
        ),
        (["dense_a", "dense_b"], ["dense_b", "dense_a"]),
    ],
)
def test_block_prefixes(names, expected):
    inputs = keras.Input((4,))
    x = inputs
    for name in names:
        layer = (
            keras.layers.BatchNormalization(name=name)
            if name.endswith("bn")
            else keras.layers.Dense(4, name=name)
        )
        x = layer(x)
    model = keras.Model(inputs, x)
    assert [g.name for g in kt.layer_groups(model)] == expected


class _Block(keras.layers.Layer):
    """A layer owning sublayers (like a HubBackbone or a keras-hub block)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.a = keras.layers.Dense(4)
        self.b = keras.layers.Dense(4)

    def call(self, x):
        return self.b(self.a(x))


def test_non_model_layer_with_sublayers_is_one_group():
    model = keras.Sequential(
        [keras.Input((4,)), _Block(name="hub"), keras.layers.Dense(1, name="head")]
    )
    groups = kt.layer_groups(model)
    assert [g.name for g in groups] == ["head", "hub"]
    assert len(groups[1].weights) == 4


def test_two_nested_copies_get_unique_names():
    def backbone(name):
        return keras.Sequential(
            [keras.Input((4,)), keras.layers.Dense(4, name="block1_dense")], name=name
        )

    inputs = keras.Input((4,))
    x = backbone("b2")(backbone("b1")(inputs))
    groups = kt.layer_groups(keras.Model(inputs, x))
    assert [g.name for g in groups] == ["block1_2", "block1"]


@pytest.mark.parametrize(
    "spec",
    [
        {"head": ["head"], "top": ["top_.*"], "rest": ["block1_dense", "block2_dense"]},
        ["head", ["top_conv", "top_bn"], ["block.*_dense"]],
    ],
)
def test_explicit_spec(spec):
    model, _ = _tiny_nested()
    groups = kt.layer_groups(model, spec)
    assert [[layer.name for layer in g.layers] for g in groups] == [
        ["head"],
        ["top_conv", "top_bn"],
        ["block1_dense", "block2_dense"],
    ]
    assert groups[0].name == "head"


def test_spec_container_name_means_all_its_layers():
    model, backbone = _tiny_nested()
    groups = kt.layer_groups(model, {"head": ["head"], "backbone": ["backbone"]})
    assert len(groups[1].layers) == 5
    assert {id(w) for w in groups[1].weights} == {id(w) for w in backbone.weights}


def test_spec_missing_names_lists_close_names():
    model, _ = _tiny_nested()
    with pytest.raises(ValueError, match="'blok2_dense' \\(close: block2_dense"):
        kt.layer_groups(model, {"head": ["head"], "b": ["blok2_dense"]})


@pytest.mark.parametrize(
    "spec, match",
    [
        ({"dropout": ["dropout"]}, "no layers with weights"),
        ({"a": ["head"], "b": ["head"]}, "in two groups"),
        ({}, "names no groups"),
    ],
)
def test_spec_bad_groups(spec, match):
    model, _ = _tiny_nested()
    with pytest.raises(ValueError, match=match):
        kt.layer_groups(model, spec)


def test_spec_wrong_type():
    model, _ = _tiny_nested()
    with pytest.raises(TypeError, match="`spec` must be"):
        kt.layer_groups(model, 3)


def test_unbuilt_model_raises():
    model = keras.Sequential([keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="is not built"):
        kt.layer_groups(model)


def test_not_a_layer_raises():
    with pytest.raises(TypeError, match="Received: model="):
        kt.layer_groups("resnet")


def test_single_layer():
    layer = keras.layers.Dense(2, name="solo")
    layer.build((None, 3))
    assert [g.name for g in kt.layer_groups(layer)] == ["solo"]


def test_keras_hub_backbone_from_config():
    keras_hub = pytest.importorskip(
        "keras_hub", reason="keras-hub not installed (optional extra `kerashub`)"
    )
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=20,
        num_layers=2,
        num_heads=2,
        hidden_dim=8,
        intermediate_dim=16,
        max_sequence_length=8,
    )
    groups = kt.layer_groups(backbone)
    names = [g.name for g in groups]
    assert names[0] == "pooled_dense"
    assert names.index("transformer_layer_1") < names.index("transformer_layer_0")
    ids = [id(w) for g in groups for w in g.weights]
    assert sorted(ids) == sorted({id(w) for w in backbone.weights})
