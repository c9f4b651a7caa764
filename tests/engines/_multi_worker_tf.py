"""One worker of a 2-worker `tf.distribute.MultiWorkerMirroredStrategy` fit.

`python _multi_worker_tf.py INDEX PORT0 PORT1`: plain Keras, no
keras_transfer code. Keras 3 does not support this strategy
(keras-team/keras#20585); `test_engines.py` expects the known failure.
"""

import json
import os
import sys

index, ports = int(sys.argv[1]), sys.argv[2:4]
os.environ["TF_CONFIG"] = json.dumps(
    {
        "cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
        "task": {"type": "worker", "index": index},
    }
)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

strategy = tf.distribute.MultiWorkerMirroredStrategy()
with strategy.scope():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
x = np.ones((16, 4), "float32")
model.fit(x, np.ones((16, 1), "float32"), batch_size=8, epochs=1, verbose=0)
print("OK", index)
