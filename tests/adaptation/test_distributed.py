"""Scale-out: GradientReversal, adapt_batchnorm and Tent under Keras's engines.

Two virtual CPU devices must be configured before the backend starts, so the
check runs in a fresh interpreter: `tf.distribute.MirroredStrategy` on
TensorFlow, `keras.distribution.DataParallel` on JAX.
"""

import os
import subprocess
import sys
import textwrap

import keras
import pytest

SETUP = {
    "tensorflow": """
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        import keras
        scope = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]).scope
        replicas = 2
    """,
    "jax": """
        import contextlib, jax, keras
        keras.distribution.set_distribution(
            keras.distribution.DataParallel(devices=jax.devices()))
        scope = contextlib.nullcontext
        replicas = len(jax.devices())
    """,
}

BODY = """
    import numpy as np
    from keras_transfer.adaptation import GradientReversal, Tent, adapt_batchnorm
    assert replicas == 2, replicas
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(2, 3, (64, 6)).astype("float32")
    with scope():
        model = keras.Sequential([
            keras.Input((6,)), keras.layers.BatchNormalization(name="bn"),
            keras.layers.Dense(8), GradientReversal(schedule_steps=10, name="grl"),
            keras.layers.BatchNormalization(), keras.layers.Dense(3)])
        model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, np.zeros(64), batch_size=16, epochs=1, verbose=0)
    assert int(keras.ops.convert_to_numpy(model.get_layer("grl").step)) == 4
    report = adapt_batchnorm(model, x)
    assert report.passes == 2
    mean = keras.ops.convert_to_numpy(model.get_layer("bn").moving_mean)
    assert np.abs(mean - x.mean(0)).max() < 1e-5, mean
    with scope():
        tent = Tent(model)
        tent.model.compile(optimizer=keras.optimizers.Adam(1e-2))
    losses = tent.model.fit(x, batch_size=16, epochs=2, verbose=0).history["loss"]
    assert losses[1] < losses[0], losses
    tent.reset()
    print("OK")
"""


@pytest.mark.slow
def test_two_replicas():
    backend = keras.backend.backend()
    if backend not in SETUP:
        pytest.skip(f"no distribution check for backend {backend}")
    env = dict(os.environ, KERAS_BACKEND=backend)
    env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    code = textwrap.dedent(SETUP[backend]) + textwrap.dedent(BODY)
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0 and "OK" in result.stdout, result.stderr[-3000:]
