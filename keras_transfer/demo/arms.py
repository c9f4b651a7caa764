"""The demo's four arms on one model, and one (k, seed) cell of them.

Four arms on the same model (`Backbones.make` gives its backbone):

- `scratch`: same architecture, random init, everything trained, one LR.
- `frozen`: backbone frozen, head trained on cached features (`fit_cached_head`).
- `full`: everything trained from the pretrained weights, one LR.
- `gradual`: continues from the `frozen` arm's head, then `GradualUnfreeze` +
  `LayerwiseLR` depth decay + `SlantedTriangular`; its time includes the head phase.
- `recipe` (only when asked for): `kt.fine_tune` with its defaults on a
  fresh pretrained model with a softmax head: the package's recipe as a user
  calls it (it holds out its own validation split of the training images).

Public: `run_cell` (the arms of one cell, one record each) and `scores`.
"""

from __future__ import annotations

import dataclasses
import time

import keras
import numpy as np

from keras_transfer._layers import walk
from keras_transfer.callbacks import GradualUnfreeze
from keras_transfer.data import make_dataset
from keras_transfer.demo._reuse import RunModels
from keras_transfer.demo.backbones import Backbones
from keras_transfer.demo.config import ALL, ARMS, DemoConfig
from keras_transfer.demo.data import sample_k_per_class
from keras_transfer.feature_cache import fit_cached_head
from keras_transfer.feature_cache._split_frozen import split_frozen
from keras_transfer.optimizers import LayerwiseLR
from keras_transfer.recipe import fine_tune
from keras_transfer.schedules import SlantedTriangular


def _build_model(
    backbone: keras.Layer, image_size: int, seed: int, c: DemoConfig | None = None
) -> keras.Model:
    c = c or DemoConfig()
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((image_size, image_size, 3)),
            backbone,
            keras.layers.Flatten(),
            # Pretrained conv activations are large (caffe scale, up to ~130):
            # normalizing them lets one head learning rate work (a head on
            # frozen VGG16 features gained 3 to 6 points at k=1 and k=5).
            keras.layers.LayerNormalization(name="feature_norm"),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(c.num_classes, name="head"),
        ],
        name=c.task,
    )


def _loss() -> keras.losses.Loss:
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _timed_fit(
    model: keras.Model,
    x: np.ndarray,
    y: np.ndarray,
    c: DemoConfig,
    seed: int,
    **kwargs: object,
) -> float:
    # make_dataset rather than arrays: it turns tf.data's autotuner off on
    # the CPU, which otherwise ran many epochs on one of the two cores.
    augment = None
    if c.augment == "flips":
        augment = keras.layers.RandomFlip("horizontal_and_vertical", seed=seed)
    data = make_dataset(
        x, y, batch_size=c.batch_size, shuffle=True, seed=seed, augment=augment,
        drop_remainder=False,
    )  # fmt: skip
    start = time.perf_counter()
    model.fit(data, shuffle=False, verbose=0, **kwargs)  # data shuffles itself
    return time.perf_counter() - start


def _one_lr_arm(
    model: keras.Model, x: np.ndarray, y: np.ndarray, c: DemoConfig, seed: int
) -> dict:
    """Fits a model compiled by `RunModels.one_lr` (Adam at `c.lr`)."""
    seconds = _timed_fit(model, x, y, c, seed, epochs=c.epochs)
    return {"seconds": seconds, "images": len(x) * c.epochs}


def _head_phase(
    model: keras.Model, x: np.ndarray, y: np.ndarray, c: DemoConfig
) -> dict:
    start = time.perf_counter()
    fit_cached_head(
        model,
        x,
        y,
        epochs=c.head_epochs,
        batch_size=c.batch_size,
        optimizer=keras.optimizers.Adam(c.head_lr),
        loss=_loss(),
    )
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "images": len(x) * c.head_epochs}


def _finetune_phase(
    model: keras.Model, x: np.ndarray, y: np.ndarray, c: DemoConfig, seed: int
) -> dict:
    steps = c.finetune_epochs * int(np.ceil(len(x) / c.batch_size))
    schedule = SlantedTriangular(c.finetune_lr, total_steps=steps)
    groups = [list(stage) for stage in c.stages] or None
    optimizer = LayerwiseLR(
        keras.optimizers.Adam(schedule), decay=c.decay, model=model, groups=groups
    )
    model.compile(optimizer=optimizer, loss=_loss())
    unfreeze = GradualUnfreeze(
        groups, epochs_per_stage=c.epochs_per_stage, start_epoch=0, verbose=0
    )
    seconds = _timed_fit(
        model, x, y, c, seed, epochs=c.finetune_epochs, callbacks=[unfreeze]
    )
    return {"seconds": seconds, "images": len(x) * c.finetune_epochs}


def _recipe_arm(
    backbones: Backbones, x: np.ndarray, y: np.ndarray, c: DemoConfig, seed: int
) -> tuple[keras.Model, dict]:
    """`kt.fine_tune` defaults on the demo's architecture with a softmax head."""
    keras.utils.set_random_seed(seed)
    backbone = backbones.make(True, seed)
    backbone.trainable = False
    inputs = keras.Input((c.image_size, c.image_size, 3))
    h = keras.layers.Flatten()(backbone(inputs))
    h = keras.layers.LayerNormalization(name="feature_norm")(h)
    h = keras.layers.Dropout(0.3)(h)
    outputs = keras.layers.Dense(c.num_classes, activation="softmax", name="head")(h)
    model = keras.Model(inputs, outputs, name=f"{c.task}_recipe")
    start = time.perf_counter()
    result = fine_tune(model, x, y, batch_size=c.batch_size, seed=seed, verbose=0)
    seconds = time.perf_counter() - start
    epochs = len(result.history)
    return model, {"seconds": seconds, "images": result.report["num_train"] * epochs}


# Test-set batch size. On TF/CPU, predicting 1,000 digits took 10.3 s at
# batch 250 against 5.7 s at batch 100 (same model, same machine).
_PREDICT_BATCH = 100


def _accuracy(
    model: keras.Model, x: np.ndarray, y: np.ndarray, task: str = "digits"
) -> dict:
    """Test scores of `model` on `(x, y)` (see `scores`)."""
    logits = model.predict(x, batch_size=_PREDICT_BATCH, verbose=0)
    return scores(np.argmax(logits, axis=-1), y, task)


def _run_models(backbones: Backbones) -> RunModels:
    """The compiled models one run keeps (see `demo/_reuse.py`)."""
    c = backbones.config
    return RunModels(
        build=lambda: _build_model(backbones.make(True, 0), c.image_size, 0, c),
        make_optimizer=lambda: keras.optimizers.Adam(c.lr),
        loss=_loss(),
        batch_size=_PREDICT_BATCH,
    )


def scores(predicted: np.ndarray, y: np.ndarray, task: str = "digits") -> dict:
    """Accuracy of predicted class indices; on the solar task also balanced
    (mean per-class recall) and functional-vs-defective accuracy."""
    result = {"accuracy": float(np.mean(predicted == y))}
    if task == "solar":  # defective: defect probability >= 1/2
        result["accuracy_binary"] = float(np.mean((predicted >= 2) == (y >= 2)))
        # The test set is 57 % defect-free while few-label training sets are
        # balanced: the mean recall over classes does not reward the majority.
        result["accuracy_balanced"] = float(
            np.mean([np.mean(predicted[y == c] == c) for c in np.unique(y)])
        )
    return result


def _frozen_test_features(backbones: Backbones, x_test: np.ndarray) -> np.ndarray:
    """Pretrained-backbone features of the test images, computed once per run.

    Every `frozen` arm scores its head on these: its backbone is the same
    pretrained, frozen one in every cell, so a full `predict` per cell would
    recompute the same features (a third of a cell's forward passes).
    """
    c = backbones.config
    model = _build_model(backbones.make(True, 0), c.image_size, 0, c)
    model.layers[0].trainable = False
    feature_model, _, _ = split_frozen(model)
    return feature_model.predict(x_test, batch_size=_PREDICT_BATCH, verbose=0)


def _record(arm: str, k: int, seed: int, scores: dict, parts: list[dict]) -> dict:
    seconds = sum(p["seconds"] for p in parts)
    images = sum(p["images"] for p in parts)
    return {
        "arm": arm,
        "k": k,
        "seed": seed,
        **scores,
        "train_seconds": seconds,
        "train_images": images,
        "images_per_sec": images / seconds if seconds > 0 else 0.0,
    }


def run_cell(
    backbones: Backbones,
    data: tuple,
    k: int,
    seed: int,
    arms: tuple[str, ...] = ARMS,
    test_features: np.ndarray | None = None,
    models: RunModels | None = None,
) -> list[dict]:
    """Runs the arms for one (k, seed) and returns one record per arm.

    `test_features` (from `_frozen_test_features`) lets the `frozen` arm score
    its head without a forward pass through the backbone; the result is the
    same as scoring the whole model. `models` (from `_run_models`), shared by
    the cells of a run, trains and scores them on models traced once.
    """
    c = backbones.config
    models = models or _run_models(backbones)
    x, y, pool, test = data
    if k == ALL:  # the whole training pool, with the full split's epochs
        train = np.random.default_rng(seed).permutation(pool)
        c = dataclasses.replace(
            c,
            epochs=c.all_epochs,
            head_epochs=c.all_head_epochs,
            finetune_epochs=c.all_finetune_epochs,
            epochs_per_stage=c.all_epochs_per_stage,
        )
    else:
        train = sample_k_per_class(y, pool, k, seed)
    x_train, y_train = x[train], y[train]
    x_test, y_test = x[test], y[test]

    def score(model: keras.Model) -> dict:
        predicted = np.argmax(models.predict(model, x_test), axis=-1)
        return scores(predicted, y_test, c.task)

    records = []
    for arm in ("scratch", "full"):
        if arm in arms:
            model = _build_model(
                backbones.make(arm == "full", seed), c.image_size, seed, c
            )
            model.layers[0].trainable = True
            if arm == "full":  # pretrained BatchNorm statistics stay as they are
                for layer in walk(model.layers[0]):  # a HubBackbone has no .layers
                    if isinstance(layer, keras.layers.BatchNormalization):
                        layer.trainable = False
            model = models.one_lr(arm, model)
            part = _one_lr_arm(model, x_train, y_train, c, seed)
            records.append(_record(arm, k, seed, score(model), [part]))
    if "frozen" in arms or "gradual" in arms:
        model = _build_model(backbones.make(True, seed), c.image_size, seed, c)
        model.layers[0].trainable = False
        head = _head_phase(model, x_train, y_train, c)
        if "frozen" in arms:
            if test_features is None:
                accuracy = score(model)
            else:
                accuracy = _accuracy(
                    split_frozen(model)[1], test_features, y_test, c.task
                )
            records.append(_record("frozen", k, seed, accuracy, [head]))
        if "gradual" in arms:
            tune = _finetune_phase(model, x_train, y_train, c, seed)
            records.append(_record("gradual", k, seed, score(model), [head, tune]))
    if "recipe" in arms:
        model, part = _recipe_arm(backbones, x_train, y_train, c, seed)
        predicted = np.argmax(
            model.predict(x_test, batch_size=_PREDICT_BATCH, verbose=0), -1
        )
        records.append(
            _record("recipe", k, seed, scores(predicted, y_test, c.task), [part])
        )
    return records
