"""The `keras-transfer` console script: one module per command.

- `keras-transfer demo [--quick]` (`cli/demo.py`): the transfer recipe against
  training from scratch on few-label MNIST with real pretrained VGG16
  weights, offline.
- `keras-transfer fit DATA_DIR --backbone ...` (`cli/fit.py`): the recipe on a
  folder of class subfolders; saves a self-contained `.keras` model and a
  report.
- `keras-transfer predict MODEL IMAGE_OR_DIR...` (`cli/predict.py`),
  `keras-transfer evaluate MODEL DIR` (`cli/evaluate.py`) and
  `keras-transfer export MODEL OUT` (`cli/export.py`): use that model.

This module and the argument definitions import neither Keras nor TensorFlow,
so `--help` and `--version` answer at once; a command imports them when it
runs, with TensorFlow's C++ start-up logs hidden unless `--verbose`.

The user's mistakes (`UserError`: bad paths, bad data, a backbone that cannot
be loaded, an output that exists) end with a one-line message on stderr and
exit status 2; any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import tempfile

from keras_transfer.cli import _arguments
from keras_transfer.cli._errors import UserError
from keras_transfer.version import __version__

# command -> module in keras_transfer.cli with `run(args) -> int`.
_COMMANDS = {
    "demo": (_arguments.add_demo, "demo"),
    "fit": (_arguments.add_fit, "fit"),
    "predict": (_arguments.add_predict, "predict"),
    "evaluate": (_arguments.add_evaluate, "evaluate"),
    "export": (_arguments.add_export, "export"),
    "rank": (_arguments.add_rank, "rank"),
}


def build_parser() -> argparse.ArgumentParser:
    """Returns the argument parser of the `keras-transfer` command."""
    parser = argparse.ArgumentParser(
        prog="keras-transfer",
        description=(
            "Transfer learning in Keras 3 as one fit(): a pretrained backbone, "
            "a new head, gradual unfreezing with layer-wise learning rates."
        ),
    )
    parser.add_argument(
        "--version", action="version", version=f"keras-transfer {__version__}"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add_parser, _ in _COMMANDS.values():
        add_parser(subparsers)
    return parser


def _import_command(name: str, verbose: bool) -> object:
    """Imports a command's module; hides TensorFlow's C++ logs unless `verbose`.

    TensorFlow prints its start-up lines (oneDNN, CUDA, CPU features) from C++
    before its logging reads `TF_CPP_MIN_LOG_LEVEL`, so the import runs with
    file descriptor 2 pointed at a temporary file; what it wrote is shown only
    if the import fails. The device probe runs there too (`cuInit` failing on
    a machine without a GPU logs an ERROR line from C++). Later C++ logs
    below ERROR are hidden by `TF_CPP_MIN_LOG_LEVEL=2`, TensorFlow's Python
    warnings (e.g. about retracing) by its logger's level.
    """
    module = f"keras_transfer.cli.{name}"
    if verbose:
        return importlib.import_module(module)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as log:
        os.dup2(log.fileno(), 2)
        try:
            imported = importlib.import_module(module)
            _probe_devices()
            return imported
        except BaseException:
            os.dup2(saved, 2)
            log.seek(0)
            sys.stderr.write(log.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _probe_devices() -> None:
    """Lets TensorFlow (when imported) look for its devices now, and log less."""
    tf = sys.modules.get("tensorflow")
    if tf is None:
        return
    tf.config.list_physical_devices()
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


def main(argv: list[str] | None = None) -> int:
    """Runs the `keras-transfer` command line and returns its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "command", None) is None:
        parser.print_help()
        return 0
    module = _import_command(_COMMANDS[args.command][1], args.verbose)
    try:
        return int(module.run(args) or 0)
    except UserError as error:
        print(f"keras-transfer {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"keras-transfer {args.command}: interrupted", file=sys.stderr)
        return 130


__all__ = ["UserError", "build_parser", "main"]
