"""Tiny SavedModels built by the HubBackbone tests (TensorFlow backend only).

Written the ways TF Hub publishers write them: Reusable SavedModels
(`tf.saved_model.save` of a `tf.train.Checkpoint` / `tf.Module` with
`__call__`, with or without `training`), `model.export()` artifacts,
signatures, a TF1 Hub format module, a `tf_keras` `model.save()` directory
and BERT-style text preprocess + encoder models. Each builder's docstring
gives its known answers; the first ones:
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
import numpy as np
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
    model = keras.Model(
        [x, z], [keras.layers.Dense(2)(summed), keras.layers.Dense(1)(summed)]
    )
    return export_reusable_savedmodel(model, path), model


def tarball(savedmodel_dir: str, path: str, nested: bool = False) -> str:
    """Packs `savedmodel_dir` as a .tar.gz (at the root, or in one subfolder)."""
    with tarfile.open(path, "w:gz") as archive:
        for entry in sorted(os.listdir(savedmodel_dir)):
            arcname = os.path.join("model", entry) if nested else entry
            archive.add(os.path.join(savedmodel_dir, entry), arcname=arcname)
    return path


def return_dict(path: str) -> str:
    """`__call__(inputs, return_dict=False)`, no `training` argument.

    `inputs` is `{"x": (batch, 2), "y": (batch, 1)}` or a lone x of shape
    (batch, 2) (then y = 0). With trainable `w = [[1.0], [2.0]]`:
    `out = x @ w + y`; returns `out`, or `{"out": out, "twice": 2 * out}`
    when `return_dict=True`.
    """
    obj = tf.train.Checkpoint()
    w = tf.Variable([[1.0], [2.0]], name="w")

    @tf.function
    def call(inputs, return_dict=False):
        if isinstance(inputs, dict):
            out = tf.matmul(inputs["x"], w) + inputs["y"]
        else:
            out = tf.matmul(inputs, w)
        return {"out": out, "twice": 2.0 * out} if return_dict else out

    dict_spec = {
        "x": tf.TensorSpec([None, 2], tf.float32),
        "y": tf.TensorSpec([None, 1], tf.float32),
    }
    for spec in (dict_spec, tf.TensorSpec([None, 2], tf.float32)):
        for flag in (True, False):  # The non-default first: defaults must decide.
            call.get_concrete_function(spec, return_dict=flag)
    obj.__call__ = call
    obj.variables = [w]
    obj.trainable_variables = [w]
    tf.saved_model.save(obj, path)
    return path


def plus_one(path: str) -> str:
    """A tf.function attribute and a signature both named `plus_one`.

    The attribute `plus_one(x)` returns `x + 1` (a tensor); the signature
    `plus_one` returns `{"output_0": x + 1}`. The attribute `times_two(x)`
    returns `2 * x` and is no signature. x has shape (batch, 3).
    """
    obj = tf.train.Checkpoint()
    spec = tf.TensorSpec([None, 3], tf.float32)
    obj.plus_one = tf.function(lambda x: x + 1.0, input_signature=[spec])
    obj.times_two = tf.function(lambda x: 2.0 * x, input_signature=[spec])
    tf.saved_model.save(obj, path, signatures={"plus_one": obj.plus_one})
    return path


def tf1_hub_module(path: str) -> str:
    """A TF1 Hub format module, written as `hub.Module` exports were.

    TF1 graph mode, `tf.compat.v1.saved_model.Builder`: an inference graph
    variant (empty tag set) and a `train` variant, each with a `default`
    signature `images` (batch, 2) -> `{"default": images @ w + 1}` with
    `w = [[0.5], [0.5]]`, plus the `tfhub_module.pb` marker (a ModuleDef
    proto with `format: FORMAT_V3`, serialized as bytes 0x08 0x03).
    tensorflow_hub 0.16 no longer has the TF1 `hub.Module` API to write one.
    """
    graph = tf.Graph()
    with graph.as_default():
        images = tf.compat.v1.placeholder(tf.float32, [None, 2], name="images")
        w = tf.compat.v1.get_variable("w", initializer=[[0.5], [0.5]])
        outputs = tf.matmul(images, w) + 1.0
        signature = tf.compat.v1.saved_model.predict_signature_def(
            {"images": images}, {"default": outputs}
        )
        with tf.compat.v1.Session(graph=graph) as session:
            session.run(tf.compat.v1.global_variables_initializer())
            builder = tf.compat.v1.saved_model.Builder(path)
            builder.add_meta_graph_and_variables(session, [], {"default": signature})
            builder.add_meta_graph(["train"], {"default": signature})
            builder.save()
    with open(os.path.join(path, "tfhub_module.pb"), "wb") as file:
        file.write(b"\x08\x03")
    return path


def tf_keras_savedmodel(path: str) -> tuple[str, object]:
    """A Keras 2 (`tf_keras`) model saved with `model.save(dir)`.

    Dense(1) with kernel [[0.5], [0.5]], bias [1.0] and an L2(0.1) kernel
    regularizer (loss 0.1 * 0.5 = 0.05), then BatchNormalization (epsilon
    1e-3: batch statistics in training), on 2 features.
    """
    import tf_keras

    model = tf_keras.Sequential(
        [
            tf_keras.Input((2,)),
            tf_keras.layers.Dense(1, kernel_regularizer=tf_keras.regularizers.L2(0.1)),
            tf_keras.layers.BatchNormalization(),
        ]
    )
    model.layers[0].set_weights(
        [np.array([[0.5], [0.5]], "float32"), np.ones(1, "float32")]
    )
    model.save(path)
    return path, model


VOCABULARY = [
    "[PAD]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "the",
    "movie",
    "was",
    "great",
    "good",
    "fun",
    "bad",
    "awful",
    "boring",
    "plot",
    "very",
]
SEQ_LENGTH = 8


def bert_preprocess(path: str) -> str:
    """A BERT-style text preprocessing SavedModel (no variables).

    `__call__(text)` on a string tensor of shape (batch,): lower-cases,
    splits on whitespace, looks the words up in `VOCABULARY` (a
    `tf.lookup.StaticHashTable`, unknown words -> 1), packs
    `[CLS] words [SEP]` into `SEQ_LENGTH` ids (0-padded) and returns the dict
    `input_word_ids`, `input_mask`, `input_type_ids` (int32, (batch, 8)).
    """

    class Preprocess(tf.Module):
        def __init__(self):
            super().__init__()
            keys = tf.constant(VOCABULARY)
            ids = tf.range(len(VOCABULARY), dtype=tf.int64)
            initializer = tf.lookup.KeyValueTensorInitializer(keys, ids)
            self.table = tf.lookup.StaticHashTable(initializer, default_value=1)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def __call__(self, text):
            words = tf.strings.split(tf.strings.lower(text))[:, : SEQ_LENGTH - 2]
            ids = tf.ragged.map_flat_values(self.table.lookup, words)
            batch = tf.shape(text, out_type=tf.int64)[0]
            ids = tf.concat(
                [
                    tf.fill([batch, 1], tf.constant(2, tf.int64)),
                    ids,
                    tf.fill([batch, 1], tf.constant(3, tf.int64)),
                ],
                axis=1,
            )
            word_ids = ids.to_tensor(shape=[None, SEQ_LENGTH])
            mask = tf.ones_like(ids).to_tensor(shape=[None, SEQ_LENGTH])
            return {
                "input_word_ids": tf.cast(word_ids, tf.int32),
                "input_mask": tf.cast(mask, tf.int32),
                "input_type_ids": tf.zeros_like(tf.cast(word_ids, tf.int32)),
            }

    tf.saved_model.save(Preprocess(), path)
    return path


def bert_encoder(path: str) -> tuple[str, keras.Model]:
    """A tiny BERT-style encoder as a Reusable SavedModel.

    Takes the preprocessor's dict; word + type embeddings (8 units), one
    self-attention block (2 heads, padding masked, residual + LayerNorm,
    Dense feed-forward), one Dense block; returns `pooled_output` (tanh
    Dense on the `[CLS]` position, (batch, 8)), `sequence_output`
    ((batch, 8, 8)), `encoder_outputs` (the list of both blocks' outputs)
    and `default` (= pooled_output), as TF Hub's BERT encoders do.
    """
    keras.utils.set_random_seed(4)
    names = ("input_word_ids", "input_mask", "input_type_ids")
    inputs = {n: keras.Input((SEQ_LENGTH,), dtype="int32", name=n) for n in names}
    x = keras.layers.Embedding(len(VOCABULARY), 8, name="word_embeddings")(
        inputs["input_word_ids"]
    )
    x = x + keras.layers.Embedding(2, 8, name="type_embeddings")(
        inputs["input_type_ids"]
    )
    mask = keras.ops.cast(inputs["input_mask"][:, None, :], "bool")
    attention = keras.layers.MultiHeadAttention(2, 4, name="attention")(
        x, x, attention_mask=mask
    )
    x = keras.layers.LayerNormalization(name="attention_norm")(x + attention)
    hidden = keras.layers.Dense(16, activation="gelu", name="intermediate")(x)
    block1 = keras.layers.LayerNormalization(name="output_norm")(
        x + keras.layers.Dense(8, name="output")(hidden)
    )
    block2 = keras.layers.Dense(8, activation="gelu", name="block2")(block1)
    pooled = keras.layers.Dense(8, activation="tanh", name="pooler")(block2[:, 0])
    outputs = {
        "pooled_output": pooled,
        "sequence_output": block2,
        "encoder_outputs": [block1, block2],
        "default": pooled,
    }
    model = keras.Model(inputs, outputs)
    return export_reusable_savedmodel(model, path), model
