"""`enable_lora` on keras-hub ViT and BERT built from constructor arguments.

The layers adapted by default are those keras-hub's own
`backbone.enable_lora(rank)` adapts (the query and value projections inside
every transformer block); `include` picks other sublayers by name or path;
a fit trains exactly the adapters and the head.
"""

import _hub_backbones as hub
import keras
import numpy as np
import pytest

import keras_transfer as kt
from keras_transfer._layers import walk_with_parents


def _adapted_paths(root):
    """Paths of names from `root` of every layer with LoRA enabled."""
    parents = {id(layer): parent for parent, layer in walk_with_parents(root)}
    paths = set()
    for _, layer in walk_with_parents(root):
        if getattr(layer, "lora_enabled", False):
            names, current = [], layer
            while current is not root:
                names.append(current.name)
                current = parents[id(current)]
            paths.add("/".join(reversed(names)))
    return paths


@pytest.mark.parametrize("builder", ["vit", "bert"])
def test_enable_lora_adapts_what_keras_hub_adapts(builder):
    ours, theirs = getattr(hub, builder)(), getattr(hub, builder)()
    theirs.enable_lora(4)
    ours.trainable = False
    table = kt.enable_lora(ours, rank=4)
    expected = _adapted_paths(theirs)
    assert len(expected) == 6  # query and value of 3 blocks
    assert all(p.rsplit("/", 1)[1] in ("query", "value") for p in expected)
    assert _adapted_paths(ours) == expected
    assert len(table.rows) == 6
    # Adapters only: ours also keeps the projections' biases frozen.
    assert {w.name for w in ours.trainable_weights} == {
        "lora_kernel_a",
        "lora_kernel_b",
    }
    assert len(ours.trainable_weights) == 12


def test_include_picks_sublayers_by_name_or_path():
    vit = hub.vit()
    vit.trainable = False
    kt.enable_lora(vit, rank=2, include="key")
    assert {p.rsplit("/", 1)[1] for p in _adapted_paths(vit)} == {"key"}
    assert len(_adapted_paths(vit)) == 3
    other = hub.vit()
    other.trainable = False
    kt.enable_lora(other, rank=2, include=r"transformer_block_2/mlp/")
    assert _adapted_paths(other) == {
        "vit_encoder/transformer_block_2/mlp/dense_1",
        "vit_encoder/transformer_block_2/mlp/dense_2",
    }


def test_enable_lora_on_chosen_block_groups():
    vit = hub.vit()
    vit.trainable = False
    kt.enable_lora(vit, rank=2, groups=["transformer_block_3"])
    assert _adapted_paths(vit) == {
        "vit_encoder/transformer_block_3/mha/query",
        "vit_encoder/transformer_block_3/mha/value",
    }


@pytest.mark.parametrize("builder", ["vit", "bert"])
def test_fit_trains_exactly_the_adapters_and_the_head(builder):
    backbone = getattr(hub, builder)()
    rng = np.random.default_rng(0)
    if builder == "vit":
        inputs = keras.Input((16, 16, 3))
        features = keras.layers.GlobalAveragePooling1D()(backbone(inputs))
        x = rng.random((8, 16, 16, 3), dtype="float32")
    else:
        inputs = {
            "token_ids": keras.Input((8,), dtype="int32"),
            "segment_ids": keras.Input((8,), dtype="int32"),
            "padding_mask": keras.Input((8,), dtype="int32"),
        }
        features = backbone(inputs)["pooled_output"]
        x = {
            "token_ids": rng.integers(0, 20, (8, 8)).astype("int32"),
            "segment_ids": np.zeros((8, 8), "int32"),
            "padding_mask": np.ones((8, 8), "int32"),
        }
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(features))
    backbone.trainable = False
    kt.enable_lora(model, rank=2)
    trained = {id(w) for w in model.trainable_weights}
    before = {id(w): keras.ops.convert_to_numpy(w).copy() for w in model.weights}
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    model.fit(x, rng.random((8, 2), dtype="float32"), epochs=1, batch_size=4, verbose=0)
    changed = {
        id(w)
        for w in model.weights
        if not np.array_equal(keras.ops.convert_to_numpy(w), before[id(w)])
    }
    head = {id(w) for w in model.get_layer("head").weights}
    lora = {id(w) for w in model.weights if w.name.startswith("lora_kernel")}
    assert trained == head | lora
    assert len(lora) == 12
    # B starts at zero, so A gets no gradient on the first step, B does.
    lora_b = {id(w) for w in model.weights if w.name == "lora_kernel_b"}
    assert lora_b | head <= changed <= trained
