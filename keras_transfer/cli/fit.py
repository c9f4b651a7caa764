"""`keras-transfer fit DATA_DIR --backbone ...`: the recipe on a user's image folders.

Steps: refuse an existing `--out` (unless `--overwrite`) before any work; load
the images (`throughput.image_folder`: corrupt files skipped, counted, named;
sizes unified); load the backbone (a TF Hub SavedModel through `HubBackbone`,
or a `keras.applications` name with a local weights file); pick precision/XLA
(`throughput.select_precision("auto")`); train the head on cached features
(`throughput.fit_cached_head`), then fine-tune with `GradualUnfreeze` and
`LayerwiseLR` depth decay; save `.keras` + JSON + markdown through temporary
files renamed into place, so an interrupted run leaves nothing half-written.
"""

from __future__ import annotations

import argparse
import difflib
import os
import time
import warnings

import keras
import numpy as np

from keras_transfer import throughput
from keras_transfer.callbacks import GradualUnfreeze
from keras_transfer.cli._io import atomic_write, say, write_json, write_text
from keras_transfer.optimizers import LayerwiseLR

DEFAULT_IMAGE_SIZE = 224


def output_paths(out: str) -> dict[str, str]:
    """The files `fit` writes: the model and its JSON and markdown reports."""
    if not out.endswith(".keras"):
        raise ValueError(
            "`--out` must be a path ending in `.keras` (the Keras v3 format). "
            f"Received: out={out!r}"
        )
    stem = out[: -len(".keras")]
    return {"model": out, "json": stem + ".json", "markdown": stem + ".md"}


def check_outputs(paths: dict[str, str], overwrite: bool) -> None:
    """Refuses to replace existing outputs unless `overwrite`."""
    existing = [p for p in paths.values() if os.path.exists(p)]
    if existing and not overwrite:
        raise ValueError(
            f"`--out` would replace existing file(s) {existing}. Pass --overwrite to "
            "replace them, or choose another --out. Nothing was changed. "
            f"Received: out={paths['model']!r}"
        )
    directory = os.path.dirname(os.path.abspath(paths["model"]))
    if not os.path.isdir(directory):
        raise ValueError(
            f"`--out` must be in an existing directory; {directory!r} does not exist. "
            f"Received: out={paths['model']!r}"
        )


def _applications_module(name: str) -> object:
    """The `keras.applications` submodule that defines `name` (for preprocess_input)."""
    for attribute in dir(keras.applications):
        module = getattr(keras.applications, attribute)
        if hasattr(module, "preprocess_input") and getattr(module, name, None) is not None:
            return module
    return None


def _is_hub_handle(backbone: str) -> bool:
    return os.path.exists(backbone) or "://" in backbone


def load_backbone(backbone: str, weights: str | None, image_size: int) -> tuple:
    """Returns `(layer, preprocess, description)` for `--backbone`.

    `preprocess` maps float32 0..255 images to what the backbone expects:
    [0, 1] for a TF Hub SavedModel (the TF Hub image convention), the
    application's own `preprocess_input` for a `keras.applications` name.
    """
    if _is_hub_handle(backbone):
        if keras.backend.backend() != "tensorflow":
            raise ValueError(
                "`--backbone` is a SavedModel, which needs the TensorFlow backend. "
                "Set KERAS_BACKEND=tensorflow, or pass a keras.applications name with "
                f"--weights. Received: backbone={backbone!r}"
            )
        from keras_transfer.layers import HubBackbone

        try:
            layer = HubBackbone(backbone, name="backbone")
        except (ValueError, OSError, ConnectionError, ImportError) as error:
            raise ValueError(
                f"`--backbone` could not be loaded as a TF Hub SavedModel: {error} "
                f"Received: backbone={backbone!r}"
            ) from error
        return layer, lambda x: x / 255.0, f"HubBackbone({backbone!r})"
    names = [n for n in dir(keras.applications) if n[:1].isupper()]
    if backbone not in names:
        close = difflib.get_close_matches(backbone, names, n=3, cutoff=0.5)
        raise ValueError(
            "`--backbone` must be an existing SavedModel path (or .tar.gz, or a hub "
            f"handle) or a keras.applications name such as {close or names[:3]}. "
            f"Received: backbone={backbone!r} (no such path or name)"
        )
    if weights is None or not os.path.isfile(weights):
        raise ValueError(
            f"`--weights` must be a local weights file for {backbone} (nothing is "
            "downloaded; e.g. the .h5 file keras.applications would fetch). "
            f"Received: weights={weights!r}"
        )
    try:
        layer = getattr(keras.applications, backbone)(
            weights=weights, include_top=False, input_shape=(image_size, image_size, 3)
        )
    except (ValueError, OSError, TypeError, KeyError) as error:
        raise ValueError(
            f"`--backbone` {backbone} could not be built with --weights {weights!r} "
            f"at {image_size}px: {error} Received: backbone={backbone!r}"
        ) from error
    module = _applications_module(backbone)
    preprocess = module.preprocess_input if module else lambda x: x
    return layer, preprocess, f"keras.applications.{backbone}(weights={weights!r})"


def build_model(backbone: keras.Layer, image_size: int, num_classes: int) -> keras.Model:
    """Backbone -> (global average pooling) -> Dropout -> Dense(num_classes)."""
    inputs = keras.Input((image_size, image_size, 3), name="images")
    try:
        features = backbone(inputs)
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"`--backbone` does not accept {image_size}x{image_size} RGB images: "
            f"{error} Pass the size it expects with --image-size."
        ) from error
    if len(features.shape) == 4:
        features = keras.layers.GlobalAveragePooling2D(name="pool")(features)
    elif len(features.shape) != 2:
        raise ValueError(
            "`--backbone` must output feature maps (batch, h, w, c) or vectors "
            f"(batch, c). Received: output shape {tuple(features.shape)}"
        )
    features = keras.layers.Dropout(0.2, name="dropout")(features)
    outputs = keras.layers.Dense(num_classes, dtype="float32", name="head")(features)
    return keras.Model(inputs, outputs, name="fit_classifier")


def _check_args(args: argparse.Namespace) -> None:
    for name in ("epochs", "head_epochs", "batch_size"):
        if getattr(args, name) < (0 if name == "epochs" else 1):
            raise ValueError(
                f"`--{name.replace('_', '-')}` must be a positive integer. "
                f"Received: {name}={getattr(args, name)}"
            )
    if args.image_size is not None and args.image_size < 8:
        raise ValueError(f"`--image-size` must be >= 8. Received: image_size={args.image_size}")


def _save_model(model: keras.Model, path: str) -> None:
    atomic_write(path, model.save, suffix=".keras")


def _markdown(report: dict) -> str:
    data = report["data"]
    lines = [
        f"# keras-transfer fit: {report['data_dir']}",
        "",
        f"- backbone: {report['backbone']} at {report['image_size']} px",
        f"- classes ({len(data['class_names'])}): {', '.join(data['class_names'])}",
        f"- images: {data['num_train']} train, {data['num_validation']} validation; "
        f"{data['skipped']} unreadable skipped, {data['resized']} resized",
    ]
    lines += [f"  - skipped: {example}" for example in data["skipped_examples"]]
    lines += [
        f"- precision: {report['precision']['policy']}, jit_compile "
        f"{report['precision']['jit_compile']}",
        f"- head {report['head_epochs']} epochs (cached features), then "
        f"{report['epochs']} epochs GradualUnfreeze + LayerwiseLR (decay {report['decay']})",
        f"- validation accuracy: {report['validation_accuracy']}",
        f"- train accuracy: {report['train_accuracy']:.4f}",
        f"- wall time: {report['seconds']:.1f} s",
        f"- model: {report['model']}",
    ]
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    """Runs `keras-transfer fit`; see the module docstring."""
    start = time.perf_counter()
    _check_args(args)
    paths = output_paths(args.out)
    check_outputs(paths, args.overwrite)
    size = args.image_size or DEFAULT_IMAGE_SIZE
    choice = throughput.select_precision("auto").apply()
    say(f"Precision: {choice.policy}, jit_compile={choice.jit_compile} ({choice.reason})")
    say(f"Loading images from {args.data_dir} at {size}x{size} ...")
    split = args.validation_split
    if split is None and args.validation_dir is None:
        split = 0.2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train, validation, data = throughput.image_folder(
            args.data_dir,
            image_size=(size, size),
            validation_split=split,
            validation_dir=args.validation_dir,
            batch_size=args.batch_size,
            seed=args.seed,
            as_dataset=False,
        )
    for warning in caught:
        say(f"warning: {warning.message}")
    say(
        f"{data['num_train']} training / {data['num_validation']} validation images, "
        f"{len(data['class_names'])} classes; {data['skipped']} unreadable file(s) "
        f"skipped{': ' + '; '.join(data['skipped_examples'][:3]) if data['skipped'] else ''}"
    )
    backbone, preprocess, description = load_backbone(args.backbone, args.weights, size)
    x, y = preprocess(np.array(train[0])), train[1]
    val = (preprocess(np.array(validation[0])), validation[1]) if validation else None
    keras.utils.set_random_seed(args.seed)
    model = build_model(backbone, size, len(data["class_names"]))
    backbone.trainable = False
    optimizer = LayerwiseLR(
        keras.optimizers.Adam(args.learning_rate), decay=args.decay, model=model
    )
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        **choice.compile_kwargs(),
    )
    batch = min(args.batch_size, len(x))
    say(f"Head: {args.head_epochs} epoch(s) on cached backbone features")
    throughput.fit_cached_head(
        model, x, y, epochs=args.head_epochs, batch_size=batch, seed=args.seed,
        validation_data=val, metrics=["accuracy"], verbose=1,
    )  # fmt: skip
    history = {}
    if args.epochs:
        say(f"Fine-tuning: {args.epochs} epoch(s), GradualUnfreeze + LayerwiseLR")
        optimizer.learning_rate = args.learning_rate / 10
        # make_dataset, not arrays: it turns tf.data's autotuner off on the CPU
        train_data = throughput.make_dataset(
            x, y, batch_size=batch, seed=args.seed, drop_remainder=False
        )
        val_data = throughput.make_dataset(*val, batch_size=batch, training=False) if val else None
        fitted = model.fit(
            train_data, epochs=args.epochs, validation_data=val_data, shuffle=False,
            callbacks=[GradualUnfreeze(start_epoch=0, verbose=0)], verbose=1,
        )  # fmt: skip
        history = {key: [float(v) for v in values] for key, values in fitted.history.items()}
    settings = throughput.effective_settings(model, warn=False)
    report = {
        "data_dir": args.data_dir,
        "backbone": description,
        "image_size": size,
        "data": data,
        "precision": {key: settings[key] for key in ("policy", "jit_compile", "backend", "device")},
        "head_epochs": args.head_epochs,
        "epochs": args.epochs,
        "decay": args.decay,
        "learning_rate": args.learning_rate,
        "history": history,
        "train_accuracy": float(model.evaluate(x, y, verbose=0, return_dict=True)["accuracy"]),
        "validation_accuracy": (
            float(model.evaluate(*val, verbose=0, return_dict=True)["accuracy"]) if val else None
        ),
        "model": paths["model"],
    }
    _save_model(model, paths["model"])
    report["seconds"] = time.perf_counter() - start
    write_json(paths["json"], report)
    write_text(paths["markdown"], _markdown(report))
    say(f"Saved {paths['model']}, {paths['json']}, {paths['markdown']}")
    print(_markdown(report))
    return 0
