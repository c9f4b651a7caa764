"""The `keras-transfer` console script."""

from __future__ import annotations

import argparse
import sys

from keras_transfer.version import __version__


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
    parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Runs the `keras-transfer` command line and returns its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "command", None) is None:
        parser.print_help()
        return 0
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
