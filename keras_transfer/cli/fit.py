"""`keras-transfer fit DATA_DIR --backbone ...`: the recipe on a user's image folders.

Steps: refuse an existing `--out` (unless `--overwrite`) before any work; list
the class subfolders and check every file once (corrupt files skipped,
counted, named); load the backbone with the layers that turn raw pixels into
its input (`_backbones`); pick precision/XLA (`_fit_precision`: `--precision` /
`--jit-compile`, measured by `--autotune` or cached from an earlier one);
decode the checked images once into uint8 arrays (`_images.load_arrays`, held
in memory: N x size x size x 3 bytes); train with `kt.fine_tune` (the head on
cached features until the validation loss stops improving, then stages on
activations cached inside the frozen backbone, `LayerwiseLR` depth decay,
class weights when imbalanced, flips as views, the epoch with the best
validation balanced accuracy kept); save the self-contained `.keras` model
(class names inside, `_model_file`) + JSON + markdown through temporary files
renamed into place. The global dtype policy is restored afterwards.

While it trains, `fit` keeps `OUT.backup/` beside `--out` (`fine_tune`'s
`backup_dir`: weights, optimizer state, generator and history after epochs);
an interrupted run leaves it, and the same command run again (or with
`--resume`, which insists on a backup) continues from it to the model an
uninterrupted run gives. It is removed after success; the report says
whether the run was resumed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time

import keras
import numpy as np

from keras_transfer._device import describe_device
from keras_transfer.cli import _curves, _fit_precision, _images, _model_file
from keras_transfer.cli._backbones import build_model, load_backbone
from keras_transfer.cli._errors import UserError
from keras_transfer.cli._io import say, write_json, write_text
from keras_transfer.cli._lr_auto import find_head_learning_rate
from keras_transfer.data.class_folders import stratified_split
from keras_transfer.grouping import layer_groups
from keras_transfer.recipe import fine_tune

DEFAULT_IMAGE_SIZE = 224
DEFAULT_VALIDATION_SPLIT = 0.2


def output_paths(out: str) -> dict[str, str]:
    """The files `fit` writes: the model, its JSON and markdown reports, its curves."""
    if not out.endswith(".keras"):
        raise UserError(
            "`--out` must be a path ending in `.keras` (the Keras v3 format). "
            f"Received: out={out!r}"
        )
    stem = out[: -len(".keras")]
    return {"model": out, "json": stem + ".json", "markdown": stem + ".md",
            "curves": stem + ".png"}  # fmt: skip


def backup_path(out: str) -> str:
    """`OUT.backup`: the folder where `fit` keeps its progress while it runs."""
    return out[: -len(".keras")] + ".backup"


def _check_backup(backup: str, resume: bool) -> bool:
    """Whether a backup is there to continue; `--resume` insists on one."""
    found = os.path.isfile(os.path.join(backup, "state.json"))
    if resume and not found:
        raise UserError(
            f"`--resume` found no backup to continue in {backup!r} (a run that "
            "finished removes it; one that never saved an epoch has none). Rerun "
            f"without --resume to start. Received: resume=True, out={backup[:-7]}.keras"
        )
    if found:
        say(f"Found the backup of an interrupted run in {backup}: continuing it")
    return found


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
    ):  # fmt: skip
        if getattr(args, name) < low:
            raise UserError(
                f"`--{name.replace('_', '-')}` must be an integer >= {low}. "
                f"Received: {name}={getattr(args, name)}"
            )
    for name in ("fine_tune_learning_rate", "decay"):
        if not getattr(args, name) > 0:
            raise UserError(
                f"`--{name.replace('_', '-')}` must be a number > 0. "
                f"Received: {name}={getattr(args, name)}"
            )
    if args.image_size is not None and args.image_size < 8:
        raise UserError(
            f"`--image-size` must be >= 8. Received: image_size={args.image_size}"
        )
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


def _items(
    args: argparse.Namespace, size: int, classes: dict
) -> tuple[list, list, dict]:
    """`(train, validation, data report)`; items are `(path, label)`, files checked."""
    class_names = list(classes)
    if args.validation_dir is not None:
        train = [
            (p, label) for label, files in enumerate(classes.values()) for p in files
        ]
        val_classes = _images.list_classes(
            args.validation_dir, "--validation-dir", 1, class_names
        )
        validation = [
            (p, class_names.index(name))
            for name, files in val_classes.items()
            for p in files
        ]
    else:
        split = args.validation_split or DEFAULT_VALIDATION_SPLIT
        train, validation = stratified_split(classes, split, args.seed)
    train, report = _images.check(train, size, progress="Checking training images")
    validation, val_report = _images.check(
        validation, size, progress="Checking validation images"
    )
    for key in ("skipped", "resized"):
        report[key] += val_report[key]
    report["skipped_examples"] = (
        report["skipped_examples"] + val_report["skipped_examples"]
    )[:5]
    if not train:
        raise UserError(
            f"`DATA_DIR` has no readable training images ({report['skipped']} "
            f"unreadable). Received: data_dir={args.data_dir!r}"
        )
    data = {"class_names": class_names, "num_train": len(train),
            "num_validation": len(validation), **report}  # fmt: skip
    return train, validation, data


def _class_weight_reason(choice: str, counts: list, used: dict | None) -> str:
    """Why the class weights are what they are (the report's words)."""
    present = [c for c in counts if c]
    ratio = max(present) / min(present)
    if choice == "none":
        return "--class-weight none: no weights"
    if choice == "balanced":
        return f"--class-weight balanced (largest class {ratio:.2f}x the smallest)"
    if used is None:
        return f"auto: largest class {ratio:.2f}x the smallest (<= 1.5x): no weights"
    return (
        f"auto: largest class {ratio:.2f}x the smallest (> 1.5x): softened "
        "(square-root) balanced weights"
    )


def _scores_line(name: str, scores: dict) -> str:
    return (
        f"- {name}: {scores['accuracy']:.3f} (balanced accuracy "
        f"{scores['balanced_accuracy']:.3f}, loss {scores['loss']:.3f})"
    )


def _markdown(report: dict) -> str:
    data, tuned = report["data"], report["fine_tune"]
    names = report["class_names"]
    weights = tuned["class_weight"]
    head_epochs = sum(row["phase"] == "head" for row in report["history"])
    lines = [
        f"# keras-transfer fit: {report['data_dir']}",
        "",
        f"- backbone: {report['backbone']} at {report['image_size']} px",
        f"- input: {report['input']}; output: {report['output']}",
        f"- class_names (output order, {len(names)}): {', '.join(names)}",
        f"- images: {data['num_train']} train, {data['num_validation']} validation; "
        f"{data['skipped']} unreadable skipped, {data['resized']} resized; decoded "
        f"into memory: {report['memory']['megabytes']:.1f} MiB "
        f"({report['memory']['seconds']:.1f} s)",
    ]
    lines += [f"  - skipped: {example}" for example in data["skipped_examples"]]
    lines += [
        f"- precision: {report['precision']['policy']}, jit_compile "
        f"{report['precision']['jit_compile']}",
        f"- recipe: kt.fine_tune; head {head_epochs} of at most {report['head_epochs']} "
        f"epoch(s) (cached features, learning rate {report['learning_rate']:.2e}), "
        f"then {len(tuned['stages'])} stage(s) of {report['epochs']} epoch(s) "
        f"(learning rate {report['fine_tune_learning_rate']:.2e}, LayerwiseLR decay "
        f"{report['decay']}, views {tuned['views']})",
        *(
            [
                f"- head learning rate: {report['learning_rate']:.2e} from lr_find "
                f"(--learning-rate auto; curve: {report['lr_find']['plot']})"
            ]
            if report.get("lr_find")
            else []
        ),
        "- class weights: "
        + (
            ", ".join(f"{names[int(c)]} {w:.3f}" for c, w in weights.items())
            if weights
            else "none"
        )
        + f" ({report['class_weight_reason']})",
    ]
    for number, stage in enumerate(tuned["stages"], start=1):
        shape = (
            "uncached"
            if stage["cached_shape"] is None
            else (
                f"cached {'x'.join(map(str, stage['cached_shape']))} "
                f"({stage['cached_megabytes']:.1f} MiB)"
            )
        )
        lines.append(
            f"- stage {number}: top {stage['groups']} group(s) trained "
            f"({', '.join(stage['trained_groups'])}); {shape}; extraction "
            f"{stage['extraction_seconds']:.1f} s, training {stage['train_seconds']:.1f} s "
            f"({stage['train_images_per_second']:.1f} img/s)"
        )
    lines += [
        f"- unfrozen groups ({len(report['unfrozen_groups'])} of "
        f"{len(report['layer_groups'])}): {', '.join(report['unfrozen_groups']) or 'none'}",
        f"- kept: epoch {tuned['kept_epoch'] + 1} of {len(report['history'])} "
        f"({tuned['kept_phase']}; best validation balanced accuracy, ties: lower loss)",
        _scores_line("validation accuracy", tuned["validation"]),
        _scores_line("validation accuracy with flip TTA", tuned["validation_tta"]),
        f"- flip TTA recommended: {'yes' if tuned['tta'] else 'no'}",
        f"- train accuracy: {report['train_accuracy']:.3f}",
        f"- wall time: {report['seconds']:.1f} s",
        _resumed_line(tuned.get("resumed_from")),
        _curves_line(report.get("curves")),
        f"- model: {report['model']} (class names inside: {_model_file.METADATA})",
    ]
    return "\n".join(lines) + "\n"


def _curves_line(curves: dict | None) -> str:
    if not curves or not curves["path"]:
        return f"- training curves: {(curves or {}).get('note', 'not drawn')}"
    name = os.path.basename(curves["path"])
    return f"- training curves: [{name}]({name}) (loss and validation scores per epoch)"


def _resumed_line(resumed: dict | None) -> str:
    if not resumed:
        return "- resumed: no (one uninterrupted run)"
    return (
        f"- resumed: yes, after {resumed['epochs_done']} epoch(s) ({resumed['phase']}, "
        f"epoch {resumed['phase_epoch']}) from the backup {resumed['directory']}"
    )


def _load(train: list, validation: list, size: int) -> tuple:
    """`(x, y, x_val, y_val, memory report)`: the images decoded into uint8 arrays."""
    begin = time.perf_counter()
    x, y = _images.load_arrays(train, size, progress="Decoding training images")
    x_val, y_val = _images.load_arrays(
        validation, size, progress="Decoding validation images"
    )
    memory = {
        "megabytes": (x.nbytes + x_val.nbytes) / 2**20,
        "seconds": time.perf_counter() - begin,
    }
    say(
        f"Decoded {len(x)} + {len(x_val)} images into memory: "
        f"{memory['megabytes']:.1f} MiB ({len(x) + len(x_val)} x {size} x {size} x 3 "
        f"bytes) in {memory['seconds']:.1f} s"
    )
    return x, y, x_val, y_val, memory


def _train(args: argparse.Namespace, paths: dict, size: int, start: float) -> dict:
    # The folders are listed, then the backbone is loaded, before any image is
    # read: a wrong --backbone or --weights fails at once. The first build
    # (same policy) reuses it.
    classes = _images.list_classes(args.data_dir, "DATA_DIR")
    built = {"loaded": (keras.config.dtype_policy().name,
                        load_backbone(args.backbone, args.weights, size))}  # fmt: skip
    say(f"Checking images in {args.data_dir} at {size}x{size} ...")
    train, validation, data = _items(args, size, classes)
    skipped = "; ".join(data["skipped_examples"][:3])
    say(
        f"{data['num_train']} training / {data['num_validation']} validation images, "
        f"{len(data['class_names'])} classes; {data['skipped']} unreadable file(s) "
        f"skipped{': ' + skipped if data['skipped'] else ''}"
    )
    if not validation:
        raise UserError(
            "`fit` needs validation images (the recipe keeps the epoch with the best "
            "validation score): give each class a few more images, a larger "
            "--validation-split or a --validation-dir. "
            f"Received: {data['num_validation']} validation images"
        )
    batch = min(args.batch_size, len(train))

    def build() -> keras.Model:
        policy, loaded = built.pop("loaded", (None, None))
        if policy != keras.config.dtype_policy().name:
            loaded = load_backbone(args.backbone, args.weights, size)
        backbone, preprocess, built["description"] = loaded
        keras.utils.set_random_seed(args.seed)
        built["backbone"] = backbone
        return build_model(backbone, preprocess, size, len(data["class_names"]))

    choice, model = _fit_precision.choose(args, build, train, size, batch)
    say(
        f"Precision: {choice.policy}, jit_compile={choice.jit_compile} ({choice.reason})"
    )
    built["backbone"].trainable = False
    frozen = [
        group.name for group in layer_groups(model) if not group.trainable_weights
    ]
    say(f"Layer groups below the head, top first ({len(frozen)}): {', '.join(frozen)}")
    x, y, x_val, y_val, memory = _load(train, validation, size)
    lr_find_report = None
    if args.learning_rate == "auto":  # --learning-rate auto: see cli/_lr_auto.py
        args.learning_rate, lr_find_report = find_head_learning_rate(
            model, x, y, batch, paths["model"]
        )
    say(
        f"kt.fine_tune: head up to {args.head_epochs} epoch(s), then "
        + (
            f"stages of {args.epochs} epoch(s)"
            if args.epochs
            else "no stage (--epochs 0)"
        )
    )
    try:
        with contextlib.redirect_stdout(sys.stderr):  # stdout: the results only
            result = fine_tune(
                model, x, y, validation_data=(x_val, y_val), batch_size=batch,
                head_epochs=args.head_epochs, head_learning_rate=args.learning_rate,
                stages="auto" if args.epochs else [], epochs_per_stage=max(args.epochs, 1),
                learning_rate=args.fine_tune_learning_rate, decay=args.decay,
                views=args.views,
                class_weight=None if args.class_weight == "none" else args.class_weight,
                jit_compile=choice.jit_compile, seed=args.seed, verbose=1,
                backup_dir=backup_path(paths["model"]),
            )  # fmt: skip
    except ValueError as error:
        raise UserError(f"kt.fine_tune refused the model or data: {error}") from error
    tuned = result.report
    trained = {name for stage in tuned["stages"] for name in stage["trained_groups"]}
    predicted = model.predict(x, batch_size=batch, verbose=0).argmax(-1)
    info = _model_file.metadata(data["class_names"], size)
    device = describe_device()
    report = {
        "data_dir": args.data_dir,
        "backbone": built["description"],
        "image_size": size,
        "class_names": data["class_names"],
        "input": info["input"],
        "output": info["output"],
        "data": data,
        "memory": memory,
        "precision": {
            "policy": model.dtype_policy.name,
            "jit_compile": choice.jit_compile,
            "backend": keras.backend.backend(),
            "device": f"{device['kind']}: {device['name']}",
            "reason": choice.reason,
        },
        "head_epochs": args.head_epochs,
        "epochs": args.epochs,
        "decay": args.decay,
        "learning_rate": args.learning_rate,
        "fine_tune_learning_rate": args.fine_tune_learning_rate,
        "class_weight": args.class_weight,
        "class_weight_reason": _class_weight_reason(
            args.class_weight, tuned["class_counts"], tuned["class_weight"]
        ),
        "views": args.views,
        "lr_find": lr_find_report,
        "layer_groups": frozen,
        "unfrozen_groups": [name for name in frozen if name in trained],
        "fine_tune": tuned,
        "history": result.history,
        "train_accuracy": float(np.mean(predicted == y)),
        "validation_accuracy": tuned["validation"]["accuracy"],
        "validation_balanced_accuracy": tuned["validation"]["balanced_accuracy"],
        "validation_loss": tuned["validation"]["loss"],
        "validation_tta": tuned["validation_tta"],
        "tta_recommended": tuned["tta"],
        "validation_files": [path for path, _ in validation],
        "resumed_from": tuned.get("resumed_from"),
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
    _check_backup(backup_path(paths["model"]), args.resume)
    size = args.image_size or DEFAULT_IMAGE_SIZE
    policy = keras.config.dtype_policy()
    try:
        report = _train(args, paths, size, start)
    except BaseException:
        backup = backup_path(paths["model"])
        if os.path.isfile(os.path.join(backup, "state.json")):
            say(f"The progress so far is kept in {backup}: run the same command again "
                "to continue from it.")  # fmt: skip
        raise
    finally:
        keras.config.set_dtype_policy(policy)
    report["curves"] = _curves.plot(
        report["history"], report["fine_tune"]["kept_epoch"], paths["curves"],
        title=f"keras-transfer fit: {report['data_dir']}",
    )  # fmt: skip
    write_json(paths["json"], report)
    write_text(paths["markdown"], _markdown(report))
    saved = [paths[k] for k in ("model", "json", "markdown", "curves")
             if k != "curves" or report["curves"]["path"]]  # fmt: skip
    say(f"Saved {', '.join(saved)}")
    print(_markdown(report))
    return 0
