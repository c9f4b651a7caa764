"""Runs each component on 2 devices and on 1, same global batches; prints `OK`.

Started in a fresh interpreter by `test_single_host.py`:
`python _single_host.py` with `KERAS_BACKEND=tensorflow` (MirroredStrategy on
2 logical CPUs) or `jax` (`keras.distribution.DataParallel` on 2 virtual CPU
devices, `XLA_FLAGS=--xla_force_host_platform_device_count=2`). Any mismatch
raises.
"""

import contextlib
import os
import sys
import tempfile

import keras

BACKEND = keras.backend.backend()
if BACKEND == "tensorflow":
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2
    )
    STRATEGY = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    REPLICAS = STRATEGY.num_replicas_in_sync
else:
    import jax

    REPLICAS = len(jax.devices())

import numpy as np  # noqa: E402

from keras_transfer.adaptation import GradientReversal, Tent, adapt_batchnorm  # noqa: E402
from keras_transfer.callbacks import GradualUnfreeze  # noqa: E402
from keras_transfer.feature_cache import fit_cached_head  # noqa: E402
from keras_transfer.optimizers import LayerwiseLR  # noqa: E402

TOLERANCE = 2e-5


@contextlib.contextmanager
def engine(distributed):
    """The scope models are built in: the engine's, or a single device."""
    if BACKEND == "tensorflow":
        with STRATEGY.scope() if distributed else contextlib.nullcontext():
            yield
        return
    keras.distribution.set_distribution(
        keras.distribution.DataParallel() if distributed else None
    )
    try:
        yield
    finally:
        keras.distribution.set_distribution(None)


def close(a, b, what):
    for i, (u, v) in enumerate(zip(a, b, strict=True)):
        diff = float(np.abs(np.asarray(u) - np.asarray(v)).max())
        assert diff < TOLERANCE, f"{what}: weight {i} differs by {diff}"


def data(n=32, features=8, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype("float32")
    y = (x[:, :1] * 0.5 - x[:, 1:2]).astype("float32")
    return x, y


def layerwise_gradual(distributed):
    """LayerwiseLR (decay) + GradualUnfreeze: 3 stages, one re-trace each."""
    keras.utils.set_random_seed(0)
    x, y = data()
    with engine(distributed):
        backbone = keras.Sequential(
            [
                keras.Input((8,)),
                keras.layers.Dense(8, name="block1_dense"),
                keras.layers.BatchNormalization(name="block1_bn"),
                keras.layers.Dense(8, name="block2_dense"),
            ],
            name="backbone",
        )
        backbone.trainable = False
        model = keras.Sequential([backbone, keras.layers.Dense(1, name="head")])
        optimizer = LayerwiseLR(keras.optimizers.Adam(0.01), decay=0.5, model=model)
        model.compile(optimizer=optimizer, loss="mse")
        stats = keras.ops.convert_to_numpy(backbone.get_layer("block1_bn").moving_mean)
        history = model.fit(
            x,
            y,
            batch_size=8,
            epochs=3,
            shuffle=False,
            verbose=0,
            callbacks=[GradualUnfreeze(verbose=0)],
        )
    assert history.history["unfreeze_stage"] == [0, 1, 2], history.history
    assert history.history["trainable_weights"] == [2, 4, 6], history.history
    bn = keras.ops.convert_to_numpy(backbone.get_layer("block1_bn").moving_mean)
    assert (bn == stats).all(), "BatchNorm stayed in inference mode"
    assert int(keras.ops.convert_to_numpy(optimizer.iterations)) == 12
    multipliers = sorted(set(optimizer.resolved_multipliers(model).values()))
    assert multipliers == [0.25, 0.5, 1.0], multipliers
    return model.get_weights()


def cached_head(distributed):
    keras.utils.set_random_seed(0)
    x, y = data()
    with engine(distributed):
        backbone = keras.Sequential(
            [keras.Input((8,)), keras.layers.Dense(6, activation="relu")],
            name="backbone",
        )
        backbone.trainable = False
        model = keras.Sequential([backbone, keras.layers.Dense(1, name="head")])
        model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
        fit_cached_head(
            model, x, y, backbone="backbone", epochs=2, batch_size=8, shuffle=False
        )
    return model.get_weights()


def bn_model():
    # Under MirroredStrategy a training-mode BatchNormalization normalizes with
    # its replica's batch unless `synchronized=True` (TensorFlow only); JAX's
    # DataParallel computes on the global batch.
    synchronized = BACKEND == "tensorflow"
    return keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.BatchNormalization(name="bn", synchronized=synchronized),
            keras.layers.Dense(8),
            GradientReversal(schedule_steps=10, name="grl"),
            keras.layers.BatchNormalization(synchronized=synchronized),
            keras.layers.Dense(3),
        ]
    )


def adaptation(distributed):
    """GradientReversal in fit, then adapt_batchnorm, then Tent."""
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(2, 3, (64, 6)).astype("float32")
    with engine(distributed):
        model = bn_model()
        model.compile(
            "sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        )
        model.fit(x, np.zeros(64), batch_size=16, epochs=1, shuffle=False, verbose=0)
    assert int(keras.ops.convert_to_numpy(model.get_layer("grl").step)) == 4
    report = adapt_batchnorm(model, x)
    assert report.passes == 2
    mean = keras.ops.convert_to_numpy(model.get_layer("bn").moving_mean)
    assert np.abs(mean - x.mean(0)).max() < 1e-5, mean
    adapted = model.get_weights()
    with engine(distributed):
        tent = Tent(model)
        # SGD: Adam would amplify reduction-order noise in near-zero gradients.
        tent.model.compile(optimizer=keras.optimizers.SGD(0.05))
        losses = tent.model.fit(
            x, batch_size=16, epochs=2, shuffle=False, verbose=0
        ).history["loss"]
    assert losses[1] < losses[0], losses
    return adapted, model.get_weights()


def hub_backbone(distributed, path):
    from keras_transfer.layers import HubBackbone

    keras.utils.set_random_seed(0)
    x, y = data(features=4)
    with engine(distributed):
        model = keras.Sequential(
            [
                keras.Input((4,)),
                HubBackbone(path, trainable=True),
                keras.layers.Dense(1, name="head"),
            ]
        )
        model.compile(optimizer=LayerwiseLR("sgd", {"hub": 0.5}), loss="mse")
        model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    return model.get_weights()


def main():
    assert REPLICAS == 2, REPLICAS
    close(
        layerwise_gradual(False), layerwise_gradual(True), "LayerwiseLR+GradualUnfreeze"
    )
    close(cached_head(False), cached_head(True), "fit_cached_head")
    single, multi = adaptation(False), adaptation(True)
    close(single[0], multi[0], "adapt_batchnorm")
    close(single[1], multi[1], "Tent")
    if BACKEND == "tensorflow":
        from keras_transfer.layers import export_reusable_savedmodel

        with tempfile.TemporaryDirectory() as root:
            path = os.path.join(root, "backbone")
            keras.utils.set_random_seed(1)
            exported = keras.Sequential(
                [keras.Input((4,)), keras.layers.Dense(3, name="hub_dense")]
            )
            export_reusable_savedmodel(exported, path)
            close(hub_backbone(False, path), hub_backbone(True, path), "HubBackbone")
    print("OK", REPLICAS)


if __name__ == "__main__":
    sys.exit(main())
