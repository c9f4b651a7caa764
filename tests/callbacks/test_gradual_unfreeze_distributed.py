"""GradualUnfreeze under Keras's own scale-out engines, on 2 virtual CPU devices.

Each case runs in a fresh interpreter: the device count must be set before
the backend initializes (XLA_FLAGS for JAX, logical devices for TF).
"""

import os
import subprocess
import sys
import textwrap

import keras
import pytest

_MODEL = """
import numpy as np
import keras
from keras_transfer.callbacks import GradualUnfreeze

def build():
    backbone = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(8, name="block1_dense"),
         keras.layers.BatchNormalization(name="block1_bn"),
         keras.layers.Dense(8, name="block2_dense")], name="backbone")
    backbone.trainable = False
    model = keras.Sequential([backbone, keras.layers.Dense(1, name="head")])
    model.compile(optimizer="adam", loss="mse")
    return model, backbone

def run(model, backbone):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 8)).astype("float32")
    y = rng.normal(size=(32, 1)).astype("float32")
    block1 = keras.ops.convert_to_numpy(backbone.get_layer("block1_dense").kernel)
    stats = keras.ops.convert_to_numpy(backbone.get_layer("block1_bn").moving_mean)
    snapshots = []
    record = keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: snapshots.append(
        keras.ops.convert_to_numpy(backbone.get_layer("block1_dense").kernel)))
    history = model.fit(x, y, batch_size=8, epochs=3, verbose=0,
                        callbacks=[GradualUnfreeze(verbose=0), record])
    assert history.history["unfreeze_stage"] == [0, 1, 2], history.history
    assert history.history["trainable_weights"] == [2, 4, 6], history.history
    assert (snapshots[1] == block1).all() and not (snapshots[2] == block1).all()
    bn = keras.ops.convert_to_numpy(backbone.get_layer("block1_bn").moving_mean)
    assert (bn == stats).all()
    steps = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
    assert steps == 12, steps
    print("OK", DEVICES)
"""

_JAX = """
import jax
DEVICES = len(jax.devices())
assert DEVICES == 2, jax.devices()
keras.distribution.set_distribution(keras.distribution.DataParallel())
run(*build())
"""

_TF = """
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
DEVICES = strategy.num_replicas_in_sync
with strategy.scope():
    model, backbone = build()
run(model, backbone)
"""


@pytest.mark.slow
def test_data_parallel_on_two_devices(tmp_path):
    backend = keras.backend.backend()
    if backend not in ("jax", "tensorflow"):
        pytest.skip(f"no scale-out engine tested for backend {backend}")
    body = _JAX if backend == "jax" else _TF
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(_MODEL) + textwrap.dedent(body))
    env = dict(os.environ, KERAS_BACKEND=backend,
               XLA_FLAGS="--xla_force_host_platform_device_count=2")
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "OK 2" in done.stdout
