"""Tiny SavedModels built by the HubBackbone tests (TensorFlow backend only).

Known answers:
- `half_plus_one`: `__call__(x, training=False, scale=1.0)` on x of shape
  (batch, 2) returns `scale * (x @ w) + b (+ 10 if training)` with trainable
  `w = [[0.5], [0.5]]`, non-trainable `b = [1.0]`, and regularization loss
  `0.01 * sum(w ** 2)` (= 0.005). Traced for scale 1.0 and 3.0.
- `signatures`: not callable; signatures `double` (x -> {"y": 2x}) and
  `sum_diff` (a, b -> {"sum": a + b, "diff": a - b}).
- `dynamic`: `__call__(x)` returns `x[:, :k]` with k = int(x[0, 0]) known only
  at run time.
"""

from __future__ import annotations

import os
import tarfile

import keras
import tensorflow as tf

from keras_transfer.layers import export_reusable_savedmodel


def half_plus_one(path: str) -> str:
    obj = tf.train.Checkpoint()
    w = tf.Variable([[0.5], [0.5]], name="w")
    b = tf.Variable([1.0], name="b", trainable=False)

    @tf.function
    def call(x, training=False, scale=1.0):
        y = scale * tf.matmul(x, w) + b
        if training:
            y = y + 10.0
        return y

    for training in (False, True):
        for scale in (1.0, 3.0):
            call.get_concrete_function(
                tf.TensorSpec([None, 2], tf.float32), training=training, scale=scale
            )
    regularization = tf.function(lambda: 0.01 * tf.reduce_sum(w**2))
    regularization.get_concrete_function()
    obj.__call__ = call
    obj.variables = [w, b]
    obj.trainable_variables = [w]
    obj.regularization_losses = [regularization]
    tf.saved_model.save(obj, path)
    return path


def signatures(path: str) -> str:
    obj = tf.train.Checkpoint()
    obj.scale = tf.Variable(2.0, name="scale")

    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
    def double(x):
        return {"y": obj.scale * x}

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, 3], tf.float32, name="a"),
            tf.TensorSpec([None, 3], tf.float32, name="b"),
        ]
    )
    def sum_diff(a, b):
        return {"sum": a + b, "diff": a - b}

    tf.saved_model.save(obj, path, signatures={"double": double, "sum_diff": sum_diff})
    return path


def dynamic(path: str) -> str:
    obj = tf.train.Checkpoint()

    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])
    def call(x):
        return x[:, : tf.cast(x[0, 0], tf.int32)]

    obj.__call__ = call
    obj.variables = []
    obj.trainable_variables = []
    tf.saved_model.save(obj, path)
    return path


def small_keras_model() -> keras.Model:
    """Dense(3, l2) -> BatchNormalization -> Dropout -> Dense(2) on 4 features."""
    keras.utils.set_random_seed(1)
    return keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(3, kernel_regularizer=keras.regularizers.L2(0.1)),
            keras.layers.BatchNormalization(),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(2),
        ]
    )


def keras_reusable(path: str) -> tuple[str, keras.Model]:
    model = small_keras_model()
    return export_reusable_savedmodel(model, path), model


def keras_exported(path: str) -> tuple[str, keras.Model]:
    model = small_keras_model()
    model.export(path, verbose=0)
    return path, model


def structured(path: str) -> tuple[str, keras.Model]:
    """A functional model with dict inputs {"a", "b"} and dict outputs {"y1", "y2"}."""
    keras.utils.set_random_seed(2)
    a = keras.Input((3,), name="a")
    b = keras.Input((2,), name="b")
    joined = keras.layers.Concatenate()([a, b])
    outputs = {
        "y1": keras.layers.Dense(1, name="y1")(joined),
        "y2": keras.layers.Dense(2, name="y2")(joined),
    }
    model = keras.Model({"a": a, "b": b}, outputs)
    return export_reusable_savedmodel(model, path), model


def list_outputs(path: str) -> tuple[str, keras.Model]:
    """A functional model with list inputs [x, z] and list outputs [2 units, 1 unit]."""
    keras.utils.set_random_seed(3)
    x = keras.Input((3,))
    z = keras.Input((3,))
    summed = keras.layers.Add()([x, z])
    model = keras.Model([x, z], [keras.layers.Dense(2)(summed), keras.layers.Dense(1)(summed)])
    return export_reusable_savedmodel(model, path), model


def tarball(savedmodel_dir: str, path: str, nested: bool = False) -> str:
    """Packs `savedmodel_dir` as a .tar.gz (at the root, or in one subfolder)."""
    with tarfile.open(path, "w:gz") as archive:
        for entry in sorted(os.listdir(savedmodel_dir)):
            arcname = os.path.join("model", entry) if nested else entry
            archive.add(os.path.join(savedmodel_dir, entry), arcname=arcname)
    return path
