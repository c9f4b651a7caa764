"""Layer groups of keras-hub and keras-cv backbones built from constructor args.

One group per transformer block (inside keras-hub's `ViTEncoder` too) and per
residual block; `spec` names layers inside an encoder; `GradualUnfreeze`
unfreezes one ViT block per stage, also from `LayerGroup`s; `LayerwiseLR`
decays the rate per ViT block.
"""

import _hub_backbones as hub
import keras
import numpy as np
import pytest

import keras_transfer as kt
from keras_transfer.callbacks import GradualUnfreeze
from keras_transfer.layers.stateful_backbone import StatefulBackbone
from keras_transfer.optimizers import LayerwiseLR

EXPECTED = {
    "vit": [
        "transformer_block_3",
        "transformer_block_2",
        "transformer_block_1",
        "vit_patching_and_embedding",
    ],
    "hub_resnet": [
        "stack1_block1",
        "stack1_block0",
        "stack0_block1",
        "stack0_block0",
        "conv1_conv",
    ],
    "hub_mobilenet": [
        "block_3_0",
        "block_2_1",
        "block_2_0",
        "block_1_1",
        "block_1_0",
        "block_0_0",
        "input_conv",
    ],
    "cv_resnet_v2": [
        "v2_stack_1_block2",
        "v2_stack_1_block1",
        "v2_stack_0_block2",
        "v2_stack_0_block1",
        "conv1_conv",
    ],
    "cv_efficientnet_v2": ["top_conv", "block2b", "block2a", "block1a", "stem_conv"],
    "cv_mobilenet_v3": ["Conv_1", "expanded_conv_1", "expanded_conv", "Conv"],
}


def _assert_partition(groups, model):
    """Every weight of `model` in exactly one group."""
    ids = [id(w) for g in groups for w in g.weights]
    assert len(ids) == len(set(ids))
    assert set(ids) == {id(w) for w in model.weights}


@pytest.mark.parametrize("builder", sorted(EXPECTED))
def test_one_group_per_block(builder):
    backbone = getattr(hub, builder)()
    groups = kt.layer_groups(backbone)
    assert [g.name for g in groups] == EXPECTED[builder]
    _assert_partition(groups, backbone)


def test_bert_one_group_per_transformer_layer():
    backbone = hub.bert(num_layers=3)
    groups = kt.layer_groups(backbone)
    names = [g.name for g in groups]
    blocks = [n for n in names if n.startswith("transformer_layer_")]
    assert blocks == [
        "transformer_layer_2",
        "transformer_layer_1",
        "transformer_layer_0",
    ]
    assert all(len(g.layers) == 1 for g in groups if g.name in blocks)
    _assert_partition(groups, backbone)


def test_keras_cv_squeeze_excite_joins_its_block():
    groups = {g.name: g for g in kt.layer_groups(hub.cv_mobilenet_v3())}
    names = [layer.name for layer in groups["expanded_conv_1"].layers]
    squeeze = [n for n in names if n.startswith("squeeze_and_excite")]
    assert len(squeeze) == 1
    # Between the depthwise convolution and the projection of its block.
    i = names.index(squeeze[0])
    assert names[i - 1].startswith("expanded_conv_1_depthwise")
    assert names[i + 1].startswith("expanded_conv_1_project")


def _vit_model(wrap=False):
    vit = hub.vit(num_layers=3)
    backbone = StatefulBackbone(vit) if wrap else vit
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.GlobalAveragePooling1D()(backbone(inputs))
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(x))
    vit.trainable = False
    return model, vit


@pytest.mark.parametrize("wrap", [False, True])
def test_groups_see_through_the_model_and_the_wrapper(wrap):
    model, vit = _vit_model(wrap)
    groups = kt.layer_groups(model)
    assert [g.name for g in groups] == ["head", *EXPECTED["vit"]]
    encoder = vit.get_layer("vit_encoder")
    # Block 3 and the encoder's final LayerNorm, which joins the block before it.
    assert [id(layer) for layer in groups[1].layers] == [
        id(encoder.encoder_layers[2]),
        id(encoder.layer_norm),
    ]


def test_spec_names_blocks_inside_the_encoder_by_name_and_regex():
    model, vit = _vit_model()
    groups = kt.layer_groups(
        model,
        {"top": ["head", "transformer_block_3"], "low": ["transformer_block_[12]"]},
    )
    blocks = vit.get_layer("vit_encoder").encoder_layers
    assert groups[0].layers == (model.get_layer("head"), blocks[2])
    assert set(map(id, groups[1].layers)) == {id(blocks[0]), id(blocks[1])}


def test_spec_rejects_a_block_and_its_encoder_in_two_groups():
    model, _ = _vit_model()
    with pytest.raises(ValueError, match="in two groups"):
        kt.layer_groups(model, [["vit_encoder"], ["transformer_block_1"]])


@pytest.mark.parametrize("as_layer_groups", [False, True])
def test_gradual_unfreeze_unfreezes_one_vit_block_per_stage(as_layer_groups):
    model, vit = _vit_model()
    blocks = vit.get_layer("vit_encoder").encoder_layers
    groups = kt.layer_groups(model) if as_layer_groups else None
    trainable_blocks = []

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            trainable_blocks.append(
                [bool(b.trainable_weights) and b.trainable for b in blocks]
            )

    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(0).random((8, 16, 16, 3), dtype="float32")
    history = model.fit(
        x,
        np.zeros((8, 2), "float32"),
        epochs=3,
        batch_size=4,
        verbose=0,
        callbacks=[GradualUnfreeze(groups=groups, start_epoch=0, verbose=0), Record()],
    )
    assert history.history["unfreeze_stage"] == [1, 2, 3]
    # 16 weights per block; the final LayerNorm (2) comes with block 3.
    assert history.history["trainable_weights"] == [2 + 18, 2 + 34, 2 + 50]
    assert trainable_blocks == [
        [False, False, True],
        [False, True, True],
        [True, True, True],
    ]


def test_gradual_unfreeze_config_writes_layer_groups_as_a_spec():
    model, _ = _vit_model()
    groups = kt.layer_groups(model)[:2]
    config = GradualUnfreeze(groups=groups).get_config()
    assert config["groups"] == {
        "head": ["head"],
        "transformer_block_3": ["transformer_block_3", "ln"],
    }
    rebuilt = GradualUnfreeze.from_config(config)
    assert [g.name for g in kt.layer_groups(model, rebuilt.groups)] == [
        "head",
        "transformer_block_3",
    ]


def test_layerwise_lr_decays_per_vit_block():
    model, vit = _vit_model()
    optimizer = LayerwiseLR(keras.optimizers.Adam(1e-3), decay=0.5, model=model)
    multipliers = optimizer.resolved_multipliers(model.weights)
    blocks = vit.get_layer("vit_encoder").encoder_layers
    per_block = [{multipliers[w.path] for w in block.weights} for block in blocks]
    assert per_block == [{0.125}, {0.25}, {0.5}]
    assert {multipliers[w.path] for w in model.get_layer("head").weights} == {1.0}
