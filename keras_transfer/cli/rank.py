"""`keras-transfer rank DATA_DIR --backbones A B C`: which backbone to fine-tune.

Lists the class subfolders and checks every file once (as `fit` does),
decodes the readable images at `--image-size` into memory, and runs
`kt.rank_backbones` (one feature extraction per candidate; kNN and
linear-probe accuracy, LogME, H-score, known ImageNet top-1; time and
feature size). Writes `--out` (JSON), and beside it the same stem as `.md`
(the table) and `.png` (each score and the seconds per candidate), each
through a temporary file renamed into place; prints the table and the
`keras-transfer fit` command that fine-tunes the recommended backbone.

A candidate that cannot be loaded or does not take the images is reported
with its error while the others rank; when none runs, nothing is written and
the exit status is 2. matplotlib (the `demo` extra) is required for the PNG
and checked before any work.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import sys
import time

from keras_transfer._files import atomic_write
from keras_transfer.cli import _images
from keras_transfer.cli._errors import UserError
from keras_transfer.cli._io import say, write_json, write_text
from keras_transfer.ranking import rank_backbones
from keras_transfer.ranking._plot import plot_ranking, require_matplotlib

DEFAULT_IMAGE_SIZE = 224


def output_paths(out: str) -> dict[str, str]:
    """The files `rank` writes: `--out` (JSON) and its `.md` and `.png` siblings."""
    if not out.endswith(".json"):
        raise UserError(
            f"`--out` must be a path ending in `.json`. Received: out={out!r}"
        )
    stem = out[: -len(".json")]
    return {"json": out, "markdown": stem + ".md", "png": stem + ".png"}


def _weights(pairs: list, backbones: list) -> dict:
    """`--weights NAME=PATH ...` -> `{name: path}`."""
    weights = {}
    for pair in pairs or []:
        name, sep, path = pair.partition("=")
        if not sep or name not in backbones:
            raise UserError(
                "`--weights` takes NAME=PATH pairs whose NAME is one of --backbones "
                f"{backbones}. Received: weights={pair!r}"
            )
        weights[name] = path
    return weights


def _check(args: argparse.Namespace, paths: dict) -> None:
    try:
        require_matplotlib()
    except ImportError as error:
        raise UserError(str(error)) from None
    existing = [p for p in paths.values() if os.path.exists(p)]
    if existing and not args.overwrite:
        raise UserError(
            f"`--out` would replace existing file(s) {existing}. Pass --overwrite to "
            f"replace them, or choose another --out. Received: out={args.out!r}"
        )
    if len(set(args.backbones)) != len(args.backbones):
        raise UserError(
            f"`--backbones` names a backbone twice. Received: backbones={args.backbones}"
        )
    for name, low in (("image_size", 8), ("folds", 2), ("k", 1), ("batch_size", 1)):
        value = getattr(args, name)
        if value is not None and value < low:
            raise UserError(
                f"`--{name.replace('_', '-')}` must be an integer >= {low}. "
                f"Received: {name}={value}"
            )


def fit_command(data_dir: str, backbone: str, weights: str | None, size: int) -> str:
    """The `keras-transfer fit` command line that fine-tunes `backbone`."""
    words = ["keras-transfer", "fit", data_dir, "--backbone", backbone]
    if weights:
        words += ["--weights", weights]
    words += ["--image-size", str(size)]
    return " ".join(shlex.quote(word) for word in words)


def run(args: argparse.Namespace) -> int:
    """Runs `keras-transfer rank`; see the module docstring."""
    start = time.perf_counter()
    paths = output_paths(args.out)
    _check(args, paths)
    weights = _weights(args.weights, args.backbones)
    size = args.image_size or DEFAULT_IMAGE_SIZE
    classes = _images.list_classes(args.data_dir, "DATA_DIR")
    items = [(p, label) for label, files in enumerate(classes.values()) for p in files]
    say(f"Checking {len(items)} images in {args.data_dir} at {size}x{size} ...")
    items, data = _images.check(items, size)
    x, y = _images.load_arrays(items, size)
    say(
        f"{len(x)} images, {len(classes)} classes; {data['skipped']} unreadable skipped"
    )
    try:
        with contextlib.redirect_stdout(sys.stderr):  # stdout: the results only
            result = rank_backbones(
                x, y, list(args.backbones), weights=weights, rule=args.rule,
                folds=args.folds, k=args.k, batch_size=args.batch_size, seed=args.seed,
            )  # fmt: skip
    except ValueError as error:
        raise UserError(f"DATA_DIR {args.data_dir!r}: {error}") from error
    if result.recommended is None:
        failures = "; ".join(f"{row['name']}: {row['error']}" for row in result.table)
        raise UserError(
            f"no backbone could be loaded and run on the images, nothing written: {failures}"
        )
    report = {
        "data_dir": args.data_dir,
        "class_names": list(classes),
        "image_size": size,
        "data": data,
        **result.as_dict(),
        "fit_command": fit_command(
            args.data_dir, result.recommended, weights.get(result.recommended), size
        ),
        "seconds": time.perf_counter() - start,
    }
    markdown = (
        f"# keras-transfer rank: {args.data_dir}\n\n"
        f"{len(x)} images, {len(classes)} classes ({', '.join(classes)}), {size} px; "
        f"{data['skipped']} unreadable skipped; {result.settings['folds']}-fold "
        "cross-validation\n\n"
        f"{result.to_markdown()}\n"
        f"Recommended: **{result.recommended}** ({result.rule}).\n\n"
        f"Fine-tune it:\n\n    {report['fit_command']}\n"
    )
    write_json(paths["json"], report)
    write_text(paths["markdown"], markdown)
    atomic_write(paths["png"], lambda tmp: plot_ranking(report, tmp), suffix=".png")
    say(f"Saved {paths['json']}, {paths['markdown']}, {paths['png']}")
    print(markdown)
    return 0
