"""`keras-transfer export MODEL OUT`: a serving artifact through `model.export()`.

Keras's own `keras.Model.export` writes OUT (default format `tf_saved_model`,
endpoint `serve`: float32 RGB pixels 0-255 in, float32 class probabilities
out, since `fit`'s last layer computes in float32 under any precision); the
model's `keras_transfer.json` (class names in output order) is copied into
OUT when OUT is a directory, else beside it as `OUT.keras_transfer.json`.
Written under a temporary name and renamed, so OUT is whole or absent.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil

from keras_transfer.cli import _model_file
from keras_transfer.cli._errors import UserError
from keras_transfer.cli._io import say, write_json


def run(args: argparse.Namespace) -> int:
    """Runs `keras-transfer export`; see the module docstring."""
    out = args.out.rstrip(os.sep) or args.out
    if os.path.exists(out) and not args.overwrite:
        raise UserError(
            f"`OUT` exists. Pass --overwrite to replace it, or choose another OUT. "
            f"Nothing was changed. Received: out={args.out!r}"
        )
    model, info = _model_file.load(args.model, args.unsafe)
    partial = f"{out}.partial{os.getpid()}"
    try:
        try:
            model.export(partial, format=args.format, verbose=False)
        except (ValueError, ImportError) as error:  # unknown format, missing package
            raise UserError(
                f"`--format` {args.format!r}: model.export() refused it: {error}"
            ) from error
        if os.path.isdir(partial):
            with open(os.path.join(partial, _model_file.METADATA), "w") as handle:
                handle.write(json.dumps(info, indent=2) + "\n")
            sidecar = None
        else:
            sidecar = f"{out}.{_model_file.METADATA}"
            write_json(sidecar, info)
        if os.path.isdir(out):
            shutil.rmtree(out)
        elif os.path.exists(out):
            os.remove(out)
        os.replace(partial, out)
    finally:
        if os.path.isdir(partial):
            shutil.rmtree(partial)
        elif os.path.exists(partial):
            os.remove(partial)
    say(f"exported {args.model} -> {out} ({args.format}); class names in "
        f"{sidecar or os.path.join(out, _model_file.METADATA)}")  # fmt: skip
    return 0
