"""`keras-transfer demo`: the transfer recipe against simpler arms, offline.

Parses the arguments into a `DemoConfig`, runs `keras_transfer.demo.run_demo`
(the experiment harness: tasks, arms, data, backbones), prints its table and
writes the plot and `--json`. Settings the data cannot serve
(`DemoSettingsError`) and missing demo data (`MissingPackageFileError`) end
as one-line `UserError`s.
"""

from __future__ import annotations

import argparse
import dataclasses

from keras_transfer import demo
from keras_transfer._package_files import MissingPackageFileError
from keras_transfer.cli import _io
from keras_transfer.cli._errors import UserError


def config_from_args(args: argparse.Namespace) -> demo.DemoConfig:
    """Builds the run's `DemoConfig`: defaults, `--quick`, then explicit flags."""
    config = demo.DemoConfig(backbone_source=args.backbone_source)
    task = getattr(args, "task", None) or demo.TASKS[0]
    if task == "solar":
        config = dataclasses.replace(config, **demo.SOLAR)
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
        raise UserError(
            f"`--num-test` must be >= 10. Received: num_test={config.num_test}"
        )
    return config


def run(args: argparse.Namespace) -> int:
    """Runs the demo, prints the table, writes the plot and `--json`."""
    config = config_from_args(args)
    arms = tuple(args.arms) if args.arms else demo.ARMS
    try:
        results = demo.run_demo(config, arms)
    except (demo.DemoSettingsError, MissingPackageFileError) as error:
        raise UserError(str(error)) from error
    print(demo.markdown_table(results))
    print(
        f"\n{results['num_test']} held-out test "
        f"{'cells' if config.task == 'solar' else 'digits'}; backend {results['backend']}, "
        f"backbone via {results['backbone_source']}; total "
        f"{results['total_seconds']:.0f} s. Timings depend on machine load."
    )
    if args.plot:
        demo.write_plot(results, args.plot)
        print(f"plot: {args.plot}")
    if args.json:
        _io.write_json(args.json, results)
        print(f"json: {args.json}")
    return 0
