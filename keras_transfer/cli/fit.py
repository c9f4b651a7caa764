"""`keras-transfer fit DATA_DIR --backbone ...`: the recipe on a user's image folders.

Steps: refuse an existing `--out` (unless `--overwrite`) before any work; list
the class subfolders and check every file once (corrupt files skipped,
counted, named); load the backbone with the layers that turn raw pixels into
its input (`_backbones`); pick precision/XLA (`_fit_precision`: `--precision` /
`--jit-compile`, measured by `--autotune` or cached from an earlier one); train the head on cached features
(`feature_cache.fit_cached_head`), then fine-tune with `GradualUnfreeze` and
`LayerwiseLR` depth decay, images streaming from disk through `tf.data`
(`--augment` on the host), keeping the best-validation weights and stopping
early (`EarlyStopping`); save the self-contained `.keras` model (class names
inside, `_model_file`) + JSON + markdown through temporary files renamed into
place. The global dtype policy is restored afterwards.
"""

from __future__ import annotations

import argparse
import os
import time

import keras
import numpy as np

from keras_transfer import throughput
from keras_transfer.callbacks import GradualUnfreeze
from keras_transfer.cli import _fit_precision, _images, _model_file
from keras_transfer.cli._backbones import build_model, load_backbone
from keras_transfer.cli._errors import UserError
from keras_transfer.cli._io import say, write_json, write_text
from keras_transfer.cli._lr_auto import find_head_learning_rate
from keras_transfer.data.class_folders import stratified_split
from keras_transfer.feature_cache import fit_cached_head
from keras_transfer.grouping import layer_groups
from keras_transfer.optimizers import LayerwiseLR

DEFAULT_IMAGE_SIZE = 224
DEFAULT_VALIDATION_SPLIT = 0.2


def output_paths(out: str) -> dict[str, str]:
    """The files `fit` writes: the model and its JSON and markdown reports."""
    if not out.endswith(".keras"):
        raise UserError(
            "`--out` must be a path ending in `.keras` (the Keras v3 format). "
            f"Received: out={out!r}"
        )
    stem = out[: -len(".keras")]
    return {"model": out, "json": stem + ".json", "markdown": stem + ".md"}


def check_outputs(paths: dict[str, str], overwrite: bool) -> None:
    """Refuses to replace existing outputs unless `overwrite`."""
    existing = [p for p in paths.values() if os.path.exists(p)]
    if existing and not overwrite:
        raise UserError(
            f"`--out` would replace existing file(s) {existing}. Pass --overwrite to "
            "replace them, or choose another --out. Nothing was changed. "
            f"Received: out={paths['model']!r}"
        )
    directory = os.path.dirname(os.path.abspath(paths["model"]))
    if not os.path.isdir(directory):
        raise UserError(
            f"`--out` must be in an existing directory; {directory!r} does not exist. "
            f"Received: out={paths['model']!r}"
        )


def _check_args(args: argparse.Namespace) -> None:
    for name, low in (
        ("epochs", 0), ("head_epochs", 1), ("batch_size", 1),
        ("epochs_per_stage", 1), ("patience", 1),
    ):  # fmt: skip
        if getattr(args, name) < low:
            raise UserError(
                f"`--{name.replace('_', '-')}` must be an integer >= {low}. "
                f"Received: {name}={getattr(args, name)}"
            )
    if args.image_size is not None and args.image_size < 8:
        raise UserError(f"`--image-size` must be >= 8. Received: image_size={args.image_size}")
    if args.validation_split is not None and args.validation_dir is not None:
        raise UserError(
            "Pass either `--validation-split` or `--validation-dir`, not both. "
            f"Received: validation_split={args.validation_split!r}, "
            f"validation_dir={args.validation_dir!r}"
        )
    if args.validation_split is not None and not 0 < args.validation_split < 1:
        raise UserError(
            "`--validation-split` must be a fraction strictly between 0 and 1, "
            f"e.g. 0.2. Received: validation_split={args.validation_split!r}"
        )


def _items(args: argparse.Namespace, size: int) -> tuple[list, list, dict]:
    """`(train, validation, data report)`; items are `(path, label)`, files checked."""
    classes = _images.list_classes(args.data_dir, "DATA_DIR")
    class_names = list(classes)
    if args.validation_dir is not None:
        train = [(p, label) for label, files in enumerate(classes.values()) for p in files]
        val_classes = _images.list_classes(
            args.validation_dir, "--validation-dir", 1, class_names
        )
        validation = [
            (p, class_names.index(name)) for name, files in val_classes.items() for p in files
        ]
    else:
        split = args.validation_split or DEFAULT_VALIDATION_SPLIT
        train, validation = stratified_split(classes, split, args.seed)
    train, report = _images.check(train, size)
    validation, val_report = _images.check(validation, size)
    for key in ("skipped", "resized"):
        report[key] += val_report[key]
    report["skipped_examples"] = (report["skipped_examples"] + val_report["skipped_examples"])[:5]
    if not train:
        raise UserError(
            f"`DATA_DIR` has no readable training images ({report['skipped']} "
            f"unreadable). Received: data_dir={args.data_dir!r}"
        )
    data = {"class_names": class_names, "num_train": len(train),
            "num_validation": len(validation), **report}  # fmt: skip
    return train, validation, data


def _augmenter(seed: int) -> object:
    """Random flips, rotations and zooms, batched, on the host (in `tf.data`)."""
    steps = [
        keras.layers.RandomFlip("horizontal", seed=seed, dtype="float32"),
        keras.layers.RandomRotation(0.05, seed=seed, dtype="float32"),
        keras.layers.RandomZoom(0.1, seed=seed, dtype="float32"),
    ]

    def augment(images: object, training: bool = True) -> object:
        for step in steps:
            images = step(images, training=training)
        return images

    return augment


def _stopping(args: argparse.Namespace, has_validation: bool) -> list:
    """`EarlyStopping` on the validation loss: stop early and/or keep the best weights."""
    if not has_validation or not (args.early_stopping or args.restore_best):
        return []
    return [
        keras.callbacks.EarlyStopping(
            monitor="val_loss",
            patience=args.patience if args.early_stopping else np.iinfo("int32").max,
            restore_best_weights=args.restore_best,
            verbose=1,
        )
    ]


def _plan(groups: list, args: argparse.Namespace) -> list[str]:
    """Prints which layer groups GradualUnfreeze will unfreeze; returns their names."""
    frozen = [group.name for group in groups if not group.trainable_weights]
    stages = min(len(frozen), (args.epochs - 1) // args.epochs_per_stage + 1) if args.epochs else 0
    say(
        f"Layer groups below the head, top first ({len(frozen)}): {', '.join(frozen)}"
    )
    say(
        f"GradualUnfreeze: one group every {args.epochs_per_stage} epoch(s) from the "
        f"first fine-tuning epoch; with --epochs {args.epochs} it unfreezes {stages}: "
        f"{', '.join(frozen[:stages]) or 'none'} (BatchNormalization: {args.batchnorm})"
    )
    return frozen


def _history(*histories: object) -> dict:
    merged = {}
    for phase, history in histories:
        if history is not None:
            merged[phase] = {k: [float(v) for v in vals] for k, vals in history.history.items()}
    return merged


def _float(value: object) -> float | None:
    return None if value is None else float(value)


def _markdown(report: dict) -> str:
    data = report["data"]
    lines = [
        f"# keras-transfer fit: {report['data_dir']}",
        "",
        f"- backbone: {report['backbone']} at {report['image_size']} px",
        f"- input: {report['input']}; output: {report['output']}",
        f"- class_names (output order, {len(report['class_names'])}): "
        f"{', '.join(report['class_names'])}",
        f"- images: {data['num_train']} train, {data['num_validation']} validation; "
        f"{data['skipped']} unreadable skipped, {data['resized']} resized",
    ]
    lines += [f"  - skipped: {example}" for example in data["skipped_examples"]]
    lines += [
        f"- precision: {report['precision']['policy']}, jit_compile "
        f"{report['precision']['jit_compile']}",
        f"- head {report['head_epochs']} epochs (cached features), then "
        f"{report['epochs']} epochs GradualUnfreeze + LayerwiseLR (decay {report['decay']}, "
        f"{report['epochs_per_stage']} epoch(s) per stage, batchnorm {report['batchnorm']}"
        f"{', augmented' if report['augment'] else ''})",
        *([f"- head learning rate: {report['learning_rate']:.2e} from lr_find "
           f"(--learning-rate auto; curve: {report['lr_find']['plot']})"]
          if report.get("lr_find") else []),
        f"- unfrozen groups ({len(report['unfrozen_groups'])} of "
        f"{len(report['layer_groups'])}): {', '.join(report['unfrozen_groups']) or 'none'}",
        f"- best-validation weights kept: {report['restore_best']}; early stopping: "
        f"{report['early_stopping']}",
        f"- validation accuracy: {report['validation_accuracy']}",
        f"- train accuracy: {report['train_accuracy']:.4f}",
        f"- wall time: {report['seconds']:.1f} s",
        f"- model: {report['model']} (class names inside: {_model_file.METADATA})",
    ]
    return "\n".join(lines) + "\n"


def _train(args: argparse.Namespace, paths: dict, size: int, start: float) -> dict:
    say(f"Checking images in {args.data_dir} at {size}x{size} ...")
    train, validation, data = _items(args, size)
    skipped = "; ".join(data["skipped_examples"][:3])
    say(
        f"{data['num_train']} training / {data['num_validation']} validation images, "
        f"{len(data['class_names'])} classes; {data['skipped']} unreadable file(s) "
        f"skipped{': ' + skipped if data['skipped'] else ''}"
    )
    batch = min(args.batch_size, len(train))
    built = {}

    def build() -> keras.Model:
        backbone, preprocess, built["description"] = load_backbone(
            args.backbone, args.weights, size
        )
        keras.utils.set_random_seed(args.seed)
        built["backbone"] = backbone
        return build_model(backbone, preprocess, size, len(data["class_names"]))

    choice, model = _fit_precision.choose(args, build, train, size, batch)
    say(f"Precision: {choice.policy}, jit_compile={choice.jit_compile} ({choice.reason})")
    description = built["description"]
    built["backbone"].trainable = False
    groups = layer_groups(model)
    frozen = _plan(groups, args)
    labels = np.asarray([label for _, label in train], "int32")
    lr_find_report = None
    if args.learning_rate == "auto":  # --learning-rate auto: see cli/_lr_auto.py
        images = _images.dataset(train, size, batch, labels=False)
        args.learning_rate, lr_find_report = find_head_learning_rate(
            model, images, labels, batch, paths["model"]
        )
    optimizer = LayerwiseLR(
        keras.optimizers.Adam(args.learning_rate), decay=args.decay, model=model
    )
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=["accuracy"],
        **choice.compile_kwargs(),
    )
    val = None
    if validation:
        val = (
            _images.dataset(validation, size, batch, labels=False),
            np.asarray([label for _, label in validation], "int32"),
        )
    say(f"Head: {args.head_epochs} epoch(s) on cached backbone features")
    head = fit_cached_head(
        model, _images.dataset(train, size, batch, labels=False), labels,
        epochs=args.head_epochs, batch_size=batch, seed=args.seed, validation_data=val,
        metrics=["accuracy"], callbacks=_stopping(args, bool(validation)), verbose=2,
    )  # fmt: skip
    tuned = None
    val_data = _images.dataset(validation, size, batch) if validation else None
    if args.epochs:
        say(f"Fine-tuning: {args.epochs} epoch(s), GradualUnfreeze + LayerwiseLR")
        optimizer.learning_rate = args.learning_rate / 10
        train_data = _images.dataset(
            train, size, batch, shuffle=True, seed=args.seed,
            augment=_augmenter(args.seed) if args.augment else None,
        )  # fmt: skip
        unfreeze = GradualUnfreeze(
            epochs_per_stage=args.epochs_per_stage, start_epoch=0,
            batchnorm=args.batchnorm, verbose=1,
        )  # fmt: skip
        tuned = model.fit(
            train_data, epochs=args.epochs, validation_data=val_data, verbose=2,
            shuffle=False,  # the pipeline reshuffles every epoch
            callbacks=[unfreeze, *_stopping(args, bool(validation))],
        )  # fmt: skip
    settings = throughput.effective_settings(model, warn=False)
    scored = _images.dataset(train, size, batch)
    accuracy = float(model.evaluate(scored, verbose=0, return_dict=True)["accuracy"])
    val_scores = {"loss": None, "accuracy": None}
    if val_data is not None:
        val_scores = model.evaluate(val_data, verbose=0, return_dict=True)
    info = _model_file.metadata(data["class_names"], size)
    report = {
        "data_dir": args.data_dir,
        "backbone": description,
        "image_size": size,
        "class_names": data["class_names"],
        "input": info["input"],
        "output": info["output"],
        "data": data,
        "precision": {
            **{key: settings[key] for key in ("policy", "jit_compile", "backend", "device")},
            "reason": choice.reason,
        },
        "head_epochs": args.head_epochs,
        "epochs": args.epochs,
        "epochs_per_stage": args.epochs_per_stage,
        "batchnorm": args.batchnorm,
        "augment": args.augment,
        "decay": args.decay,
        "learning_rate": args.learning_rate,
        "lr_find": lr_find_report,
        "early_stopping": args.early_stopping and bool(validation),
        "restore_best": args.restore_best and bool(validation),
        "layer_groups": frozen,
        "unfrozen_groups": [g.name for g in groups if g.name in frozen and g.trainable_weights],
        "history": _history(("head", head), ("fine_tune", tuned)),
        "train_accuracy": accuracy,
        "validation_accuracy": _float(val_scores["accuracy"]),
        "validation_loss": _float(val_scores["loss"]),
        "validation_files": [path for path, _ in validation],
        "model": paths["model"],
    }
    # An uncompiled model of the same layers: the file needs no optimizer class.
    _model_file.save(keras.Model(model.input, model.output, name=model.name),
                     paths["model"], info)  # fmt: skip
    report["seconds"] = time.perf_counter() - start
    return report


def run(args: argparse.Namespace) -> int:
    """Runs `keras-transfer fit`; see the module docstring."""
    start = time.perf_counter()
    _check_args(args)
    paths = output_paths(args.out)
    check_outputs(paths, args.overwrite)
    size = args.image_size or DEFAULT_IMAGE_SIZE
    policy = keras.config.dtype_policy()
    try:
        report = _train(args, paths, size, start)
    finally:
        keras.config.set_dtype_policy(policy)
    write_json(paths["json"], report)
    write_text(paths["markdown"], _markdown(report))
    say(f"Saved {paths['model']}, {paths['json']}, {paths['markdown']}")
    print(_markdown(report))
    return 0
