"""One process of a 2-process JAX run on 127.0.0.1, or the 1-process reference.

`python _multi_process.py worker PROCESS_ID PORT OUT.npz` joins a 2-process
job through `keras.distribution.initialize` (coordinator 127.0.0.1:PORT) and
feeds its own half of every global batch of 8 (`auto_shard_dataset=False`);
`python _multi_process.py single OUT.npz` runs one process on the whole
batches. Both fit LayerwiseLR + GradualUnfreeze and write the final weights.
"""

import sys

import jax
import keras
import numpy as np

from keras_transfer.callbacks import GradualUnfreeze
from keras_transfer.optimizers import LayerwiseLR

GLOBAL_BATCH = 8


def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 8)).astype("float32")
    y = (x[:, :1] * 0.5 - x[:, 1:2]).astype("float32")
    return x, y


def halves(array, process_id, processes=2):
    """This process's share of every global batch, in step order."""
    local = GLOBAL_BATCH // processes
    steps = len(array) // GLOBAL_BATCH
    start = process_id * local
    return np.concatenate(
        [
            array[s * GLOBAL_BATCH + start : s * GLOBAL_BATCH + start + local]
            for s in range(steps)
        ]
    )


def train(x, y, batch_size):
    keras.utils.set_random_seed(0)
    backbone = keras.Sequential(
        [
            keras.Input((8,)),
            keras.layers.Dense(8, name="block1_dense"),
            keras.layers.Dense(8, name="block2_dense"),
        ],
        name="backbone",
    )
    backbone.trainable = False
    model = keras.Sequential([backbone, keras.layers.Dense(1, name="head")])
    model.compile(
        optimizer=LayerwiseLR(keras.optimizers.Adam(0.01), decay=0.5, model=model),
        loss="mse",
    )
    history = model.fit(
        x,
        y,
        batch_size=batch_size,
        epochs=3,
        shuffle=False,
        verbose=0,
        callbacks=[GradualUnfreeze(verbose=0)],
    )
    assert history.history["unfreeze_stage"] == [0, 1, 2], history.history
    return [np.asarray(w) for w in model.get_weights()]


def main(argv):
    x, y = data()
    if argv[1] == "single":
        weights = train(x, y, GLOBAL_BATCH)
        out = argv[2]
    else:
        process_id, port, out = int(argv[2]), int(argv[3]), argv[4]
        try:  # CPU collectives across processes (older JAX defaults to none)
            jax.config.update("jax_cpu_collectives_implementation", "gloo")
        except (AttributeError, ValueError):
            pass
        keras.distribution.initialize(
            job_addresses=f"127.0.0.1:{port}", num_processes=2, process_id=process_id
        )
        assert jax.process_count() == 2 and len(jax.devices()) == 2, jax.devices()
        distribution = keras.distribution.DataParallel(devices=jax.devices())
        distribution.auto_shard_dataset = False
        keras.distribution.set_distribution(distribution)
        weights = train(halves(x, process_id), halves(y, process_id), GLOBAL_BATCH // 2)
    np.savez(out, *weights)
    print("OK", argv[1])


if __name__ == "__main__":
    main(sys.argv)
