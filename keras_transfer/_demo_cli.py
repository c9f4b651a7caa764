"""`keras-transfer demo` arguments -> `DemoConfig` -> table, plot and JSON."""

from __future__ import annotations

import argparse
import dataclasses

from keras_transfer import _demo, _demo_report


def config_from_args(args: argparse.Namespace) -> _demo.DemoConfig:
    """Builds the run's `DemoConfig`: defaults, `--quick`, then explicit flags."""
    config = _demo.DemoConfig(backbone_source=args.backbone_source)
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
        raise ValueError(
            "`--k` and `--seeds` must be >= 1. "
            f"Received: k={args.k}, seeds={args.seeds}"
        )
    if config.num_test < 10:
        raise ValueError(f"`--num-test` must be >= 10. Received: num_test={config.num_test}")
    return config


def run(args: argparse.Namespace) -> int:
    """Runs the demo, prints the table, writes the plot and `--json`."""
    config = config_from_args(args)
    arms = tuple(args.arms) if args.arms else _demo.ARMS
    unknown = sorted(set(arms) - set(_demo.ARMS))
    if unknown:
        raise ValueError(f"`--arms` must be among {_demo.ARMS}. Received: arms={unknown}")
    results = _demo.run_demo(config, arms)
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
        _demo_report.write_json(results, args.json)
        print(f"json: {args.json}")
    return 0
