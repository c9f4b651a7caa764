"""LayerwiseLR inside `fit()`: XLA, callbacks, mixed precision, unfreezing, saving."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_transfer._keras_internals import sync_optimizer
from keras_transfer.optimizers import LayerwiseLR


def _fit(model, data, batch_size=32, **kwargs):
    x, y = data
    kwargs.setdefault("epochs", 1)
    return model.fit(x, y, batch_size=batch_size, verbose=0, shuffle=False, **kwargs)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_fit_step_is_half_the_plain_sgd_step(make_model, data, weights_of, jit_compile):
    """One full-batch step: the body moves exactly half as far as with plain SGD."""
    plain = make_model()
    init = plain.get_weights()
    plain.compile(keras.optimizers.SGD(0.1), "mse", jit_compile=jit_compile)
    _fit(plain, data)
    scaled = make_model()
    scaled.set_weights(init)
    opt = LayerwiseLR(keras.optimizers.SGD(0.1), {"/body/": 0.5})
    scaled.compile(opt, "mse", jit_compile=jit_compile)
    _fit(scaled, data)
    body0, head0 = init[:2], init[2:]
    for w0, p, s in zip(
        body0, weights_of(plain.get_layer("body")), weights_of(scaled.get_layer("body"))
    ):
        np.testing.assert_allclose(s - w0, 0.5 * (p - w0), rtol=1e-5, atol=1e-8)
        assert np.abs(s - w0).max() > 1e-4
    for w0, p, s in zip(
        head0, weights_of(plain.get_layer("head")), weights_of(scaled.get_layer("head"))
    ):
        np.testing.assert_allclose(s - w0, p - w0, rtol=1e-5, atol=1e-8)


def test_learning_rate_scheduler_and_reduce_lr_on_plateau_drive_the_base_rate(
    make_model, data, weights_of
):
    model = make_model()
    opt = LayerwiseLR(keras.optimizers.SGD(0.1), {"/body/": 0.5})
    model.compile(opt, "mse", jit_compile=True)
    seen = []
    record = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: seen.append(
            weights_of(model.get_layer("body"))
        )
    )
    # Epoch 0 at 0.1, epoch 1 at 0.0: the second epoch must not move anything.
    scheduler = keras.callbacks.LearningRateScheduler(lambda epoch: [0.1, 0.0][epoch])
    _fit(model, data, epochs=2, callbacks=[scheduler, record])
    assert float(keras.ops.convert_to_numpy(opt.inner_optimizer.learning_rate)) == 0.0
    assert not np.allclose(seen[0][0], model.get_weights()[0] * 0 + seen[0][0] + 1)
    np.testing.assert_array_equal(seen[1][0], seen[0][0])

    opt.learning_rate = 0.1
    # mode="max" on a falling loss: every epoch after the first is a plateau.
    plateau = keras.callbacks.ReduceLROnPlateau(
        "loss", factor=0.5, patience=0, mode="max"
    )
    history = _fit(model, data, epochs=3, callbacks=[plateau])
    # The callback logs the rate each epoch ran with, then halves it.
    assert history.history["learning_rate"] == pytest.approx([0.1, 0.1, 0.05])
    assert float(
        keras.ops.convert_to_numpy(opt.inner_optimizer.learning_rate)
    ) == pytest.approx(0.025)


def test_mixed_float16_wraps_in_loss_scale_optimizer(make_model, data, weights_of):
    keras.config.set_dtype_policy("mixed_float16")
    model = make_model()
    body0, head0 = (
        weights_of(model.get_layer("body")),
        weights_of(model.get_layer("head")),
    )
    opt = LayerwiseLR(keras.optimizers.Adam(0.01), {"/body/": 0.0})
    model.compile(opt, "mse", jit_compile=True)
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert model.optimizer.inner_optimizer is opt
    # 12 steps: the loss scale starts high, so the first steps may be skipped.
    history = _fit(model, data, batch_size=8, epochs=3)
    assert np.isfinite(history.history["loss"]).all()
    assert history.history["loss"][-1] < history.history["loss"][0]
    for w0, w in zip(body0, weights_of(model.get_layer("body"))):
        assert w.dtype == np.float32 and w.tobytes() == w0.tobytes()
    assert not np.allclose(head0[0], weights_of(model.get_layer("head"))[0])
    assert int(keras.ops.convert_to_numpy(opt.iterations)) >= 2


@pytest.mark.parametrize("policy", ["float32", "mixed_float16"])
def test_variables_unfrozen_later_get_their_multiplier_and_keep_others_state(
    make_model, data, weights_of, policy
):
    keras.config.set_dtype_policy(policy)
    model = make_model(frozen_body=True)
    inner = keras.optimizers.Adam(0.01)
    opt = LayerwiseLR(inner, {"/body/kernel": 0.0, "/body/bias": 0.5}, model=model)
    model.compile(opt, "mse", jit_compile=True)
    _fit(model, data, batch_size=8)  # 4 steps (loss scaling may skip some)
    steps = int(keras.ops.convert_to_numpy(inner.iterations))
    assert steps >= 1
    head_slots = {
        v.path: np.array(v.numpy()) for v in inner.variables if "head" in v.path
    }
    assert head_slots
    body0 = weights_of(model.get_layer("body"))

    model.get_layer("body").trainable = True
    new = sync_optimizer(model.optimizer, model.trainable_variables)
    assert {v.path for v in new} == {"tiny/body/kernel", "tiny/body/bias"}
    for v in inner.variables:
        if v.path in head_slots:
            np.testing.assert_array_equal(v.numpy(), head_slots[v.path])
    assert int(keras.ops.convert_to_numpy(inner.iterations)) == steps
    model.make_train_function(force=True)
    _fit(model, data)

    kernel, bias = weights_of(model.get_layer("body"))
    assert kernel.tobytes() == body0[0].tobytes()  # multiplier 0
    assert not np.allclose(bias, body0[1])  # multiplier 0.5: moved
    assert int(keras.ops.convert_to_numpy(inner.iterations)) == steps + 1
    assert opt.resolved_multipliers() == {
        "tiny/head/kernel": 1.0,
        "tiny/head/bias": 1.0,
        "tiny/body/kernel": 0.0,
        "tiny/body/bias": 0.5,
    }


def test_ema_of_the_inner_optimizer_is_finalized(make_model, data, weights_of):
    model = make_model()
    body0 = weights_of(model.get_layer("body"))
    inner = keras.optimizers.SGD(0.05, use_ema=True, ema_momentum=0.5)
    model.compile(LayerwiseLR(inner, {"/body/": 0.0}), "mse")
    x, y = data
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    head_kernel = model.get_layer("head").kernel
    (average,) = [v for v in inner.variables if v.path.endswith("head_kernel_average")]
    np.testing.assert_array_equal(head_kernel.numpy(), average.numpy())
    assert not np.allclose(
        head_kernel.numpy(), body0[0][:1].T * 0 + head_kernel.numpy() + 1
    )
    for w0, w in zip(body0, weights_of(model.get_layer("body"))):
        np.testing.assert_array_equal(w, w0)


def test_saved_model_reloads_and_keeps_applying_multipliers(
    make_model, data, weights_of, tmp_path
):
    model = make_model()
    opt = LayerwiseLR(
        keras.optimizers.Adam(0.01), {"/body/kernel": 0.0}, decay=0.5, model=model
    )
    model.compile(opt, "mse", jit_compile=True)
    _fit(model, data)
    path = tmp_path / "model.keras"
    model.save(path)

    keras.backend.clear_session()
    loaded = keras.saving.load_model(path)
    restored = loaded.optimizer
    assert isinstance(restored, LayerwiseLR)
    # Keras may drop the model-name prefix of the paths on reload.
    resolved = restored.resolved_multipliers(loaded)
    assert {path.removeprefix("tiny/"): m for path, m in resolved.items()} == {
        "body/kernel": 0.0,
        "body/bias": 0.5,
        "head/kernel": 1.0,
        "head/bias": 1.0,
    }
    assert int(keras.ops.convert_to_numpy(restored.iterations)) == 1
    slots = [v for v in restored.inner_optimizer.variables if "head_kernel" in v.path]
    assert slots and all(np.abs(v.numpy()).max() > 0 for v in slots)  # state reloaded
    kernel0, bias0 = weights_of(loaded.get_layer("body"))
    head0 = weights_of(loaded.get_layer("head"))
    _fit(loaded, data)
    kernel, bias = weights_of(loaded.get_layer("body"))
    assert kernel.tobytes() == kernel0.tobytes()
    assert not np.allclose(bias, bias0)
    assert not np.allclose(weights_of(loaded.get_layer("head"))[0], head0[0])
    assert int(keras.ops.convert_to_numpy(restored.iterations)) == 2
