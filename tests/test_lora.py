"""Tests for `keras_transfer.lora`: adapters by layer group, merged for serving."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_transfer.callbacks import GradualUnfreeze
from keras_transfer.lora import enable_lora, merge_lora
from keras_transfer.optimizers import LayerwiseLR


def _cnn(classes=2):
    """A frozen conv backbone (3 groups) + a trainable head."""
    backbone = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.Conv2D(4, 3, name="block1_conv"),
            keras.layers.BatchNormalization(name="block1_bn"),
            keras.layers.DepthwiseConv2D(3, name="block2_dw"),
            keras.layers.Conv2D(4, 1, name="block2_conv"),
            keras.layers.GlobalAveragePooling2D(name="pool"),
            keras.layers.Dense(6, name="block3_dense"),
        ],
        name="backbone",
    )
    backbone.trainable = False
    return keras.Sequential(
        [backbone, keras.layers.Dense(classes, name="head")], name="model"
    )


def _data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8, 8, 3)).astype("float32")
    return x, (np.arange(n) % 2).astype("int32")


def _values(weights):
    return {w.path: keras.ops.convert_to_numpy(w).copy() for w in weights}


def _compile(model, optimizer=None):
    model.compile(
        optimizer=optimizer or keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )


def _fitted(rank, epochs):
    """`_cnn()` with adapters of `rank`, trained `epochs` epochs; and its inputs."""
    model = _cnn()
    enable_lora(model, rank=rank)
    _compile(model)
    x, y = _data()
    model.fit(x, y, batch_size=8, epochs=epochs, verbose=0)
    return model, x


def test_exported_as_kt_enable_lora():
    import keras_transfer as kt

    assert kt.enable_lora is enable_lora


def test_table_lists_adapted_layers_and_added_params():
    model = _cnn()
    table = enable_lora(model, rank=2)
    # Default: the frozen groups only; the head stays as it is.
    assert [row[:3] for row in table.rows] == [
        ("block3", "block3_dense", "Dense"),
        ("block2", "block2_conv", "Conv2D"),
        ("block1", "block1_conv", "Conv2D"),
    ]
    # Dense 4->6: A (4, 2) + B (2, 6); 1x1 conv 4->4: A (1,1,4,2) + B (2,4);
    # 3x3 conv 3->4: A (3,3,3,2) + B (2,4).
    assert [row[4] for row in table.rows] == [8 + 12, 8 + 8, 54 + 8]
    assert table.added_params == 98
    assert {s[1] for s in table.skipped} == {"block2_dw", "block1_bn"}
    assert not hasattr(model.get_layer("head"), "lora_kernel_a")
    assert "98 params added" in repr(table)


@pytest.mark.parametrize(
    "layer,shape,added",
    [
        (keras.layers.Dense(5), (3,), 3 * 2 + 2 * 5),
        (keras.layers.EinsumDense("ab,bc->ac", output_shape=5), (3,), 3 * 2 + 2 * 5),
        (keras.layers.Embedding(10, 4), (), 10 * 2 + 2 * 4),
        (keras.layers.Conv1D(5, 3), (6, 3), 3 * 3 * 2 + 2 * 5),
        (keras.layers.Conv3D(5, 2), (4, 4, 4, 3), 2 * 2 * 2 * 3 * 2 + 2 * 5),
    ],
    ids=["dense", "einsum", "embedding", "conv1d", "conv3d"],
)
def test_every_supported_layer_type_and_its_merge(layer, shape, added):
    inputs = keras.Input(shape or (7,), dtype="int32" if not shape else "float32")
    model = keras.Model(inputs, layer(inputs))
    model.trainable = False
    table = enable_lora(model, rank=2, groups=[layer.name])
    assert table.added_params == added
    for weight in layer.weights:
        if weight.name.startswith("lora_"):
            weight.assign(np.full(weight.shape, 0.1, "float32"))
    rng = np.random.default_rng(0)
    x = (
        rng.integers(0, 10, (2, 7)) if not shape else rng.normal(size=(2, *shape))
    ).astype(inputs.dtype)
    merged = merge_lora(model)
    assert not any("lora" in w.name for w in merged.weights)
    served = merged.predict(x, verbose=0)
    np.testing.assert_allclose(
        served, model.predict(x, verbose=0), rtol=1e-5, atol=1e-6
    )
    for weight in layer.weights:  # the adapters did matter
        if weight.name.startswith("lora_"):
            weight.assign(np.zeros(weight.shape, "float32"))
    assert not np.allclose(served, model.predict(x, verbose=0), rtol=1e-3)


def test_fit_updates_only_adapters_and_head():
    model = _cnn()
    enable_lora(model, rank=2)
    _compile(model)
    x, y = _data()
    before = _values(model.weights)
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    after = _values(model.weights)
    changed = {p for p in before if not np.array_equal(before[p], after[p])}
    assert changed == {
        "backbone/block3_dense/lora_kernel_a",
        "backbone/block3_dense/lora_kernel_b",
        "backbone/block2_conv/lora_kernel_a",
        "backbone/block2_conv/lora_kernel_b",
        "backbone/block1_conv/lora_kernel_a",
        "backbone/block1_conv/lora_kernel_b",
        "model/head/kernel",
        "model/head/bias",
    }
    # Kernels, biases, the depthwise conv and BatchNorm (gamma, beta, moving
    # statistics: inference mode) are bit-identical.
    assert not model.get_layer("backbone").get_layer("block1_bn").trainable


def test_include_and_named_groups():
    model = _cnn()
    table = enable_lora(model, rank=1, groups=["block2", "block1"], include="conv")
    assert [row[1] for row in table.rows] == ["block2_conv", "block1_conv"]
    with pytest.raises(ValueError, match=r"`groups` names 'block9'.*block3"):
        enable_lora(_cnn(), rank=1, groups=["block9"])


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"`rank` must be an integer >= 1.*rank=0"):
        enable_lora(_cnn(), rank=0)
    with pytest.raises(ValueError, match="No layer of the chosen groups"):
        enable_lora(_cnn(), rank=2, groups=["block2"], include="dw")
    trainable = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="every layer group has trainable weights"):
        enable_lora(trainable, rank=2)


def test_layerwise_lr_multipliers_reach_the_adapters_by_group():
    # One SGD step from the same start: under LayerwiseLR(decay=0.5) each
    # group's adapter update is decay**depth times the plain SGD update.
    x, y = _data(8)
    updates = {}
    for name in ("plain", "layerwise"):
        keras.utils.set_random_seed(3)
        model = _cnn()
        enable_lora(model, rank=2)
        for layer in model.get_layer("backbone").layers:  # nonzero B: A moves too
            if getattr(layer, "lora_enabled", False):
                layer.lora_kernel_b.assign(np.full(layer.lora_kernel_b.shape, 0.1))
        optimizer = keras.optimizers.SGD(0.1)
        if name == "layerwise":
            optimizer = LayerwiseLR(optimizer, decay=0.5, model=model)
        _compile(model, optimizer)
        before = _values(model.weights)
        model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
        updates[name] = {p: v - before[p] for p, v in _values(model.weights).items()}
    depth = {
        "model/head": 0,
        "backbone/block3_dense": 1,
        "backbone/block2_conv": 2,
        "backbone/block1_conv": 3,
    }
    for prefix, d in depth.items():
        for suffix in (
            ("kernel", "bias") if d == 0 else ("lora_kernel_a", "lora_kernel_b")
        ):
            path = f"{prefix}/{suffix}"
            assert np.abs(updates["plain"][path]).max() > 0, path
            np.testing.assert_allclose(
                updates["layerwise"][path],
                0.5**d * updates["plain"][path],
                rtol=1e-4,
                atol=1e-7,
                err_msg=path,
            )


def test_gradual_unfreeze_brings_adapters_in_group_by_group():
    model = _cnn()
    table = enable_lora(model, rank=2, trainable=False)
    optimizer = LayerwiseLR(
        keras.optimizers.Adam(1e-2), path_multipliers=table.base_multipliers()
    )
    _compile(model, optimizer)
    x, y = _data()
    start = _values(model.weights)
    snapshots = []
    record = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: snapshots.append(_values(model.weights))
    )
    model.fit(
        x,
        y,
        batch_size=8,
        epochs=4,
        verbose=0,
        callbacks=[GradualUnfreeze(verbose=0), record],
    )

    def moved(epoch, layer):
        return not np.array_equal(
            snapshots[epoch][f"backbone/{layer}/lora_kernel_b"],
            start[f"backbone/{layer}/lora_kernel_b"],
        )

    order = ["block3_dense", "block2_conv", "block1_conv"]
    for epoch in range(4):  # epoch k trains the adapters of the top k groups
        assert [moved(epoch, layer) for layer in order] == [i < epoch for i in range(3)]
    # Base weights never moved, though each stage made them trainable.
    for path in table.base_multipliers():
        np.testing.assert_array_equal(snapshots[-1][path], start[path])
    assert "backbone/block1_conv/kernel" in [v.path for v in model.trainable_variables]


def test_keras_save_stores_merged_kernels_and_zeroes_the_adapters(tmp_path):
    # What Keras 3.15 does: the .keras file holds W + s*A@B as "kernel" and
    # reloads with A = B = 0, so predictions match but LoRA training cannot
    # continue (zero adapters get zero gradients).
    model, x = _fitted(rank=2, epochs=1)
    path = str(tmp_path / "lora.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(
        loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6
    )
    layer = loaded.get_layer("backbone").get_layer("block1_conv")
    assert layer.lora_enabled and layer.lora_rank == 2
    assert not np.any(layer.lora_kernel_a.numpy()) and not np.any(
        layer.lora_kernel_b.numpy()
    )
    original = model.get_layer("backbone").get_layer("block1_conv")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer.kernel),
        keras.ops.convert_to_numpy(original.kernel),
        rtol=1e-6,
    )  # the merged kernel was saved
    raw = [w for w in original.weights if w.name == "kernel"][0]
    assert not np.allclose(
        keras.ops.convert_to_numpy(original.kernel), raw.numpy()
    )  # the adapters had moved


@keras.saving.register_keras_serializable(package="keras_transfer_tests")
class _Projection(keras.layers.Layer):
    """A custom layer holding a Dense in an attribute (as keras-hub blocks do)."""

    def __init__(self, units=3, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.dense = keras.layers.Dense(units, name="proj")

    def call(self, x):
        return self.dense(x)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def test_merge_lora_reaches_adapters_inside_a_custom_layer():
    inputs = keras.Input((4,))
    block = _Projection(name="block")
    model = keras.Model(inputs, block(inputs))
    base = keras.ops.convert_to_numpy(block.dense.kernel).copy()
    block.dense.enable_lora(2)
    a = np.arange(8, dtype="float32").reshape(4, 2) / 8
    b = np.full((2, 3), 0.5, "float32")
    block.dense.lora_kernel_a.assign(a)
    block.dense.lora_kernel_b.assign(b)
    x = np.random.default_rng(0).normal(size=(3, 4)).astype("float32")
    merged = merge_lora(model)
    assert [w.name for w in merged.weights] == ["kernel", "bias"]
    np.testing.assert_allclose(  # alpha / rank = 1
        keras.ops.convert_to_numpy(merged.weights[0]), base + a @ b, rtol=1e-6
    )
    np.testing.assert_allclose(
        merged.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6
    )


def test_enable_lora_unfreezes_only_the_adapted_layers_and_their_containers():
    model = _cnn()
    backbone = model.get_layer("backbone")
    enable_lora(model, rank=2, groups=["block2"])
    assert backbone.trainable and backbone.get_layer("block2_conv").trainable
    for name in ("block1_conv", "block1_bn", "block2_dw", "block3_dense"):
        assert not backbone.get_layer(name).trainable, name
    assert sorted(w.path for w in model.trainable_weights) == [
        "backbone/block2_conv/lora_kernel_a",
        "backbone/block2_conv/lora_kernel_b",
        "model/head/bias",
        "model/head/kernel",
    ]


def test_merge_lora_predicts_the_same_in_float32(tmp_path):
    model, x = _fitted(rank=4, epochs=2)
    merged = merge_lora(model)
    assert len(merged.weights) == len(model.weights) - 6
    assert merged.count_params() == model.count_params() - sum(
        int(np.prod(w.shape)) for w in model.weights if "lora" in w.name
    )
    out = merged.predict(x, verbose=0)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    # The serving model is a plain model: its .keras round trip has no LoRA.
    path = str(tmp_path / "merged.keras")
    merged.save(path)
    reloaded = keras.saving.load_model(path)
    assert not any("lora" in w.name for w in reloaded.weights)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), out, rtol=1e-6)


@pytest.mark.tensorflow_only
def test_export_keeps_adapters_separate_and_merged_export_does_not(tmp_path):
    import tensorflow as tf

    model = _cnn()
    enable_lora(model, rank=2)
    for layer in model.get_layer("backbone").layers:
        if getattr(layer, "lora_enabled", False):
            layer.lora_kernel_b.assign(np.full(layer.lora_kernel_b.shape, 0.05))
    x, _ = _data(4)
    expected = model.predict(x, verbose=0)
    counts = {}
    for name, source in (("lora", model), ("merged", merge_lora(model))):
        path = str(tmp_path / name)
        source.export(path, verbose=False)
        artifact = tf.saved_model.load(path)
        np.testing.assert_allclose(
            artifact.serve(x).numpy(), expected, rtol=1e-5, atol=1e-6
        )
        counts[name] = sum("lora" in v.name for v in artifact.variables)
    assert counts == {"lora": 6, "merged": 0}
