"""Tests for keras_transfer.callbacks.GradualUnfreeze."""

import keras
import numpy as np
import pytest

import keras_transfer as kt
from keras_transfer.callbacks import GradualUnfreeze

# 32 samples, batch 8 -> 4 steps per epoch.
STEPS = 4


def _data(n=32, features=8):
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=(n, features)).astype("float32")
    y = rng.normal(size=(n, 1)).astype("float32")
    return x, y


def _model(freeze=True, jit_compile=False, optimizer="adam", bn=True):
    """backbone [block1: Dense+BN, block2: Dense, block3: Dense] -> head Dense."""
    layers = [keras.Input((8,)), keras.layers.Dense(8, name="block1_dense")]
    if bn:
        layers.append(keras.layers.BatchNormalization(name="block1_bn"))
    layers += [
        keras.layers.Dense(8, name="block2_dense"),
        keras.layers.Dense(8, name="block3_dense"),
    ]
    backbone = keras.Sequential(layers, name="backbone")
    if freeze:
        backbone.trainable = False
    model = keras.Sequential([backbone, keras.layers.Dense(1, name="head")])
    if callable(optimizer):
        optimizer = optimizer(model)
    model.compile(optimizer=optimizer, loss="mse", jit_compile=jit_compile)
    return model, backbone


def _values(model):
    return {w.path: keras.ops.convert_to_numpy(w) for w in model.weights}


class _Recorder(keras.callbacks.Callback):
    """Records weights and optimizer variables at epoch begin/end."""

    def __init__(self):
        super().__init__()
        self.begin, self.end, self.opt_begin, self.opt_end = [], [], [], []

    def on_epoch_begin(self, epoch, logs=None):
        self.begin.append(_values(self.model))
        self.opt_begin.append(
            {
                v.path: keras.ops.convert_to_numpy(v)
                for v in self.model.optimizer.variables
            }
        )

    def on_epoch_end(self, epoch, logs=None):
        self.end.append(_values(self.model))
        self.opt_end.append(
            {
                v.path: keras.ops.convert_to_numpy(v)
                for v in self.model.optimizer.variables
            }
        )


def _changed(before, after, prefix):
    keys = [k for k in before if k.startswith(prefix)]
    assert keys, prefix
    return [not np.array_equal(before[k], after[k]) for k in keys]


def test_stages_known_answers():
    model, backbone = _model()
    x, y = _data()
    init = _values(model)
    rec = _Recorder()
    history = model.fit(
        x,
        y,
        batch_size=8,
        epochs=4,
        verbose=0,
        callbacks=[GradualUnfreeze(verbose=0), rec],
    )
    assert history.history["unfreeze_stage"] == [0, 1, 2, 3]
    assert history.history["trainable_weights"] == [2, 4, 6, 8]
    assert int(model.optimizer.iterations) == 4 * STEPS
    end = rec.end
    # Epoch e: head + the top e groups train; the others stay bit-identical.
    for epoch, trained in enumerate(
        [
            ["head"],
            ["head", "block3"],
            ["head", "block3", "block2"],
            ["head", "block3", "block2", "block1_dense"],
        ]
    ):
        before = init if epoch == 0 else end[epoch - 1]
        for prefix, name in [
            ("sequential/head", "head"),
            ("backbone/block3", "block3"),
            ("backbone/block2", "block2"),
            ("backbone/block1_dense", "block1_dense"),
        ]:
            expected = name in trained
            assert _changed(before, end[epoch], prefix) == [expected] * 2, (epoch, name)
    # BatchNorm: frozen by default, moving statistics and gamma/beta untouched.
    assert _changed(init, end[-1], "backbone/block1_bn") == [False] * 4
    # The container is trainable again, its BatchNorm is not (inference mode).
    assert backbone.trainable
    assert not backbone.get_layer("block1_bn").trainable


def test_optimizer_state_kept_across_stage_change():
    model, _ = _model()
    x, y = _data()
    rec = _Recorder()
    model.fit(
        x,
        y,
        batch_size=8,
        epochs=2,
        verbose=0,
        callbacks=[GradualUnfreeze(verbose=0), rec],
    )
    end0, begin1 = rec.opt_end[0], rec.opt_begin[1]
    head = [k for k in end0 if "head" in k]
    assert len(head) == 4  # kernel/bias x momentum/velocity
    for key in head + ["adam/iteration", "adam/learning_rate"]:
        np.testing.assert_array_equal(begin1[key], end0[key])
    assert int(begin1["adam/iteration"]) == STEPS
    assert any(np.any(end0[k] != 0) for k in head)
    # New variables get fresh (zero) Adam state at the stage change.
    new = [k for k in begin1 if "block3" in k]
    assert len(new) == 4 and all(not np.any(begin1[k]) for k in new)
    # ... and it is used: non-zero after the epoch.
    assert all(np.any(rec.opt_end[1][k]) for k in new)


def _layerwise_sgd(model):
    return kt.optimizers.LayerwiseLR(keras.optimizers.SGD(0.1), decay=0.5, model=model)


@pytest.mark.parametrize(
    "optimizer, multiplier",
    [(lambda model: keras.optimizers.SGD(0.1), 1.0), (_layerwise_sgd, 0.5)],
    ids=["sgd", "layerwise_lr"],
)
def test_sgd_update_of_newly_unfrozen_variable_by_hand(optimizer, multiplier):
    """Stage 1 trains block3 (group 1): w1 = w0 - lr * decay**1 * grad(w0)."""
    model, _ = _model(optimizer=optimizer, bn=False)
    x, y = _data(n=8)
    rec = _Recorder()
    model.fit(
        x,
        y,
        batch_size=8,
        epochs=2,
        verbose=0,
        shuffle=False,
        callbacks=[GradualUnfreeze(verbose=0), rec],
    )
    # Recompute the gradient of the epoch-1 step at the epoch-1 starting point.
    for w in model.weights:
        w.assign(rec.begin[1][w.path])
    kernel = model.get_layer("backbone").get_layer("block3_dense").kernel
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(keras.losses.mean_squared_error(y, model(x)))
        grad = tape.gradient(loss, kernel.value).numpy()
    elif keras.backend.backend() == "torch":
        import torch

        loss = keras.ops.mean(keras.losses.mean_squared_error(y, model(x)))
        (grad,) = torch.autograd.grad(loss, [kernel.value])
        grad = grad.detach().cpu().numpy()
    else:
        import jax

        def loss_fn(k):
            values = [k if v is kernel else v.value for v in model.trainable_variables]
            nontrain = [v.value for v in model.non_trainable_variables]
            out, _ = model.stateless_call(values, nontrain, x)
            return keras.ops.mean(keras.losses.mean_squared_error(y, out))

        grad = np.asarray(jax.grad(loss_fn)(kernel.value))
    expected = rec.begin[1][kernel.path] - 0.1 * multiplier * grad
    np.testing.assert_allclose(rec.end[1][kernel.path], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "batchnorm, affine_changes, stats_change",
    [("frozen", False, False), ("affine", True, False), ("train", True, True)],
)
def test_batchnorm_modes(batchnorm, affine_changes, stats_change):
    model, _ = _model()
    x, y = _data()
    init = _values(model)
    model.fit(
        x,
        y,
        batch_size=8,
        epochs=4,
        verbose=0,
        callbacks=[GradualUnfreeze(batchnorm=batchnorm, verbose=0)],
    )
    after = _values(model)
    bn = "backbone/block1_bn/"
    assert _changed(init, after, bn + "gamma") == [affine_changes]
    assert _changed(init, after, bn + "beta") == [affine_changes]
    assert _changed(init, after, bn + "moving_mean") == [stats_change]
    assert _changed(init, after, bn + "moving_variance") == [stats_change]


@pytest.mark.parametrize(
    "kwargs, epochs, stages",
    [
        ({"start_epoch": 2, "epochs_per_stage": 2}, 7, [0, 0, 1, 1, 2, 2, 3]),
        ({"start_epoch": 0}, 2, [1, 2]),
        ({"groups": ["block2_dense"], "start_epoch": 1}, 3, [0, 1, 1]),
    ],
)
def test_schedule_arguments(kwargs, epochs, stages):
    model, _ = _model(bn=False)
    x, y = _data(n=8)
    history = model.fit(
        x,
        y,
        batch_size=8,
        epochs=epochs,
        verbose=0,
        callbacks=[GradualUnfreeze(verbose=0, **kwargs)],
    )
    assert history.history["unfreeze_stage"] == stages


def test_initial_epoch_sets_stage_from_epoch():
    model, _ = _model(bn=False)
    x, y = _data(n=8)
    history = model.fit(
        x,
        y,
        batch_size=8,
        epochs=4,
        initial_epoch=2,
        verbose=0,
        callbacks=[GradualUnfreeze(verbose=0)],
    )
    assert history.history["unfreeze_stage"] == [2, 3]
    assert history.history["trainable_weights"] == [6, 8]


_TRACES = []


class _CountingSequential(keras.Sequential):
    def train_step(self, *args, **kwargs):
        _TRACES.append(1)  # runs once per trace when compiled
        return super().train_step(*args, **kwargs)


@pytest.mark.skipif(
    keras.backend.backend() == "torch",
    reason="counts tf.function / jax.jit traces; torch.compile guards on Python "
    "state (this very counter makes it recompile), so a trace count means nothing "
    "there; stages under torch.compile: test_mixed_float16_loss_scale_optimizer[True]",
)
def test_jit_compile_one_trace_per_stage():
    backbone = keras.Sequential(
        [
            keras.Input((8,)),
            keras.layers.Dense(8, name="block1_dense"),
            keras.layers.Dense(8, name="block2_dense"),
        ],
        name="backbone",
    )
    backbone.trainable = False
    model = _CountingSequential(
        [backbone, keras.layers.Dense(1, name="head")], name="counting"
    )
    model.compile(optimizer="adam", loss="mse", jit_compile=True)
    x, y = _data()
    _TRACES.clear()
    history = model.fit(
        x, y, batch_size=8, epochs=4, verbose=0, callbacks=[GradualUnfreeze(verbose=0)]
    )
    assert history.history["unfreeze_stage"] == [0, 1, 2, 2]
    assert len(_TRACES) == 3  # stage 0, 1, 2


@pytest.mark.parametrize("jit_compile", [False, True])
def test_mixed_float16_loss_scale_optimizer(jit_compile):
    keras.config.set_dtype_policy("mixed_float16")
    model, _ = _model(jit_compile=jit_compile)
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    x, y = _data()
    x = (x - 3.0) / 20.0  # small activations: no float16 overflow, no skipped steps
    rec = _Recorder()
    history = model.fit(
        x,
        y,
        batch_size=8,
        epochs=3,
        verbose=0,
        callbacks=[GradualUnfreeze(verbose=0), rec],
    )
    assert history.history["unfreeze_stage"] == [0, 1, 2]
    assert _changed(rec.end[0], rec.end[1], "backbone/block3") == [True, True]
    assert _changed(rec.end[0], rec.end[1], "backbone/block2") == [False, False]
    assert _changed(rec.end[1], rec.end[2], "backbone/block2") == [True, True]
    assert _changed(rec.begin[0], rec.end[2], "backbone/block1_dense") == [False] * 2
    assert np.isfinite(history.history["loss"]).all()
    assert int(model.optimizer.iterations) == 3 * STEPS


def test_composes_with_lr_callbacks_and_schedules():
    schedule = keras.optimizers.schedules.ExponentialDecay(0.01, 4, 0.5)
    model, _ = _model(optimizer=keras.optimizers.Adam(schedule), bn=False)
    x, y = _data()
    model.fit(
        x, y, batch_size=8, epochs=3, verbose=0, callbacks=[GradualUnfreeze(verbose=0)]
    )
    # The schedule keeps counting across stages: 12 steps -> 0.01 * 0.5**3.
    assert int(model.optimizer.iterations) == 3 * STEPS
    np.testing.assert_allclose(
        float(model.optimizer.learning_rate), 0.01 * 0.5**3, rtol=1e-6
    )

    model, _ = _model(bn=False)
    scheduler = keras.callbacks.LearningRateScheduler(lambda e: 0.1 * 0.5**e)
    model.fit(
        x,
        y,
        batch_size=8,
        epochs=3,
        verbose=0,
        callbacks=[scheduler, GradualUnfreeze(verbose=0)],
    )
    np.testing.assert_allclose(float(model.optimizer.learning_rate), 0.025, rtol=1e-6)


class _Interrupt(keras.callbacks.Callback):
    def __init__(self, at_epoch):
        super().__init__()
        self.at_epoch = at_epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at_epoch:
            raise RuntimeError("simulated preemption")


@pytest.mark.parametrize("restart", ["fresh_model", "same_model"])
def test_resume_with_backup_and_restore(tmp_path, restart):
    x, y = _data()
    model, _ = _model(bn=False)
    init = _values(model)
    rec = _Recorder()
    backup = str(tmp_path / "backup")
    with pytest.raises(RuntimeError, match="preemption"):
        model.fit(
            x,
            y,
            batch_size=8,
            epochs=4,
            verbose=0,
            callbacks=[
                GradualUnfreeze(verbose=0),
                keras.callbacks.BackupAndRestore(backup),
                rec,
                _Interrupt(2),
            ],
        )
    saved = rec.end[1]  # the backup is taken at the end of epoch 1
    saved_opt = rec.opt_end[1]
    if restart == "fresh_model":  # a new process: rebuild and freeze again
        keras.backend.clear_session()
        model, _ = _model(bn=False)
    rec = _Recorder()
    history = model.fit(
        x,
        y,
        batch_size=8,
        epochs=4,
        verbose=0,
        callbacks=[
            GradualUnfreeze(verbose=0),
            keras.callbacks.BackupAndRestore(backup),
            rec,
        ],
    )
    assert history.history["unfreeze_stage"] == [2, 3]
    assert history.history["trainable_weights"] == [6, 8]
    # The optimizer state of the backup (stage 1) is restored, moments included.
    assert int(rec.opt_begin[0]["adam/iteration"]) == 2 * STEPS
    for key, value in saved_opt.items():
        np.testing.assert_array_equal(rec.opt_begin[0][key], value)
    assert int(model.optimizer.iterations) == 4 * STEPS
    for key, value in saved.items():
        np.testing.assert_array_equal(rec.begin[0][key], value)
    # block1 is frozen until stage 3 (epoch 3): still the initial values after
    # the resumed epoch 2, trained in epoch 3; block2 trains in both.
    assert _changed(init, rec.end[0], "backbone/block1_dense") == [False, False]
    assert _changed(rec.end[0], rec.end[1], "backbone/block1_dense") == [True, True]
    assert _changed(saved, rec.end[0], "backbone/block2_dense") == [True, True]


@pytest.mark.slow
def test_mobilenetv2_backbone():
    base = keras.applications.MobileNetV2(
        weights=None, input_shape=(32, 32, 3), alpha=0.35, include_top=False
    )
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(8, 32, 32, 3)).astype("float32")
    labels = rng.integers(0, 2, size=(8,))
    # Give the random backbone data-matched BatchNorm statistics, as pretrained
    # weights have (with the defaults the activations vanish to ~1e-12).
    bns = [
        layer
        for layer in base.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    for layer in bns:
        layer.momentum = 0.0
    base(images, training=True)
    for layer in bns:
        layer.momentum = 0.99
    base.trainable = False
    inputs = keras.Input((32, 32, 3))
    x = base(inputs, training=False)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(x))
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    init = {id(w): keras.ops.convert_to_numpy(w) for w in model.weights}
    history = model.fit(
        images,
        labels,
        batch_size=4,
        epochs=3,
        verbose=0,
        callbacks=[GradualUnfreeze(verbose=0)],
    )
    changed = {
        id(w)
        for w in model.weights
        if not np.array_equal(init[id(w)], keras.ops.convert_to_numpy(w))
    }
    assert history.history["unfreeze_stage"] == [0, 1, 2]
    # Stage 1: Conv_1 (+ its frozen BN); stage 2: block_16 (3 convs + 3 BNs).
    assert history.history["trainable_weights"] == [2, 3, 6]

    def kernel(name):
        return id(base.get_layer(name).kernel)

    assert kernel("Conv_1") in changed
    assert kernel("block_16_project") in changed
    assert kernel("block_15_project") not in changed
    bn_weights = {id(w) for layer in bns for w in layer.weights}
    assert not changed & bn_weights
    assert len(changed) == 6  # head kernel+bias, Conv_1, three block_16 convs
    assert int(model.optimizer.iterations) == 3 * 2


def test_nothing_frozen_warns_and_does_nothing():
    model, _ = _model(freeze=False, bn=False)
    x, y = _data(n=8)
    with pytest.warns(UserWarning, match="nothing to do.*HINT"):
        history = model.fit(
            x, y, epochs=1, verbose=0, callbacks=[GradualUnfreeze(verbose=0)]
        )
    assert "unfreeze_stage" not in history.history


def test_group_spec_with_missing_layer_lists_close_names():
    model, _ = _model(bn=False)
    x, y = _data(n=8)
    with pytest.raises(ValueError, match="block2_dense"):
        model.fit(
            x,
            y,
            epochs=1,
            verbose=0,
            callbacks=[GradualUnfreeze(groups=["blok2_dense"], verbose=0)],
        )


def test_empty_group_raises():
    model, _ = _model(bn=False)
    model_with_dropout = keras.Sequential([model, keras.layers.Dropout(0.1)])
    model_with_dropout.compile(optimizer="adam", loss="mse")
    x, y = _data(n=8)
    with pytest.raises(ValueError, match="no layers with weights"):
        model_with_dropout.fit(
            x,
            y,
            epochs=1,
            verbose=0,
            callbacks=[GradualUnfreeze(groups={"drop": ["dropout"]}, verbose=0)],
        )


def test_unbuilt_model_raises():
    model = keras.Sequential([keras.layers.Dense(1)])
    callback = GradualUnfreeze()
    callback.set_model(model)
    with pytest.raises(ValueError, match="not built"):
        callback.on_train_begin()


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"epochs_per_stage": 0}, ValueError, "epochs_per_stage"),
        ({"start_epoch": -1}, ValueError, "start_epoch"),
        ({"start_epoch": 1.5}, ValueError, "start_epoch"),
        ({"batchnorm": "fixed"}, ValueError, "batchnorm"),
        ({"groups": "block5"}, TypeError, "groups"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=f"`{match}`.*Received: {match}="):
        GradualUnfreeze(**kwargs)


def test_verbose_prints_stage(capsys):
    model, _ = _model(bn=False)
    x, y = _data(n=8)
    model.fit(x, y, epochs=2, verbose=0, callbacks=[GradualUnfreeze()])
    out = capsys.readouterr().out
    assert (
        "GradualUnfreeze: epoch 2: stage 1/3: unfroze 'block3' (4 trainable weights"
        in out
    )


def test_disable_interactive_logging_silences_stage_lines(capsys, caplog):
    model, _ = _model(bn=False)
    x, y = _data(n=8)
    keras.utils.disable_interactive_logging()
    try:
        with caplog.at_level("INFO", logger="keras_transfer"):
            model.fit(x, y, epochs=2, verbose=0, callbacks=[GradualUnfreeze()])
    finally:
        keras.utils.enable_interactive_logging()
    assert "GradualUnfreeze" not in capsys.readouterr().out
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1
    assert messages[0].startswith(
        "GradualUnfreeze: epoch 2: stage 1/3: unfroze 'block3'"
    )


def test_second_fit_on_the_unfrozen_model_warns_and_changes_nothing():
    model, _ = _model(bn=False)
    x, y = _data(n=8)
    first = model.fit(x, y, epochs=4, verbose=0, callbacks=[GradualUnfreeze(verbose=0)])
    assert first.history["trainable_weights"] == [2, 4, 6, 8]
    assert not hasattr(model, "gradual_unfreeze_state")  # removed by on_train_end
    trainable = [w.path for w in model.trainable_weights]
    with pytest.warns(UserWarning, match="nothing to do"):
        second = model.fit(
            x, y, epochs=2, verbose=0, callbacks=[GradualUnfreeze(verbose=0)]
        )
    assert [w.path for w in model.trainable_weights] == trainable
    assert len(trainable) == 8
    assert "unfreeze_stage" not in second.history


class _FailAtTrainBegin(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        raise RuntimeError("failed before the first epoch")


def test_a_fit_that_fails_early_leaves_nothing_behind():
    model, _ = _model(bn=False)
    x, y = _data(n=8)
    callback = GradualUnfreeze(verbose=0)
    with pytest.raises(RuntimeError, match="before the first epoch"):
        model.fit(x, y, epochs=2, verbose=0, callbacks=[callback, _FailAtTrainBegin()])
    assert len(model.trainable_weights) == 2  # nothing unfrozen yet
    # Keras calls no `on_train_end` after an exception: the next run cleans up.
    history = model.fit(
        x, y, epochs=4, verbose=0, callbacks=[GradualUnfreeze(verbose=0)]
    )
    assert history.history["trainable_weights"] == [2, 4, 6, 8]
    assert "load_own_variables" not in vars(model.optimizer)
    assert not hasattr(model, "gradual_unfreeze_state")


def test_plan_is_reset_in_on_train_begin():
    callback = GradualUnfreeze(verbose=0)
    x, y = _data(n=8)
    model, _ = _model(bn=False)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[callback])
    assert callback.num_stages == 3
    model, _ = _model(freeze=False, bn=False)  # the same callback, another model
    with pytest.warns(UserWarning, match="nothing to do"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[callback])
    assert callback.num_stages == 0


def test_config(config_round_trip):
    config_round_trip(
        GradualUnfreeze(
            groups={"head": ["head"]},
            epochs_per_stage=2,
            start_epoch=3,
            batchnorm="affine",
            verbose=0,
        )
    )


def test_layer_groups_shared_with_callback():
    model, _ = _model(bn=False)
    assert [g.name for g in kt.layer_groups(model)] == [
        "head",
        "block3",
        "block2",
        "block1",
    ]
