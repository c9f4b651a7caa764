"""Training images/sec of transfer-learning phases, configurations and peers.

    python benchmarks/throughput.py --quick --json OUT.json      # ~2 min, 2 CPU cores
    python benchmarks/throughput.py --json OUT.json --png OUT.png  # full suite
    KERAS_BACKEND=jax python benchmarks/throughput.py --quick      # no TensorFlow needed
    python benchmarks/throughput.py --models tiny --image-size 32 --batch-size 8 \\
        --steps 3 --repeats 2 --json /tmp/t.json                   # smoke settings

Rows: phases (`head_frozen`: frozen backbone + Dense head, plain fit;
`head_cached`: `fit_cached_head`, steady per-epoch img/s on features computed
once, plus the one-time extraction cost; `unfreeze` stage k: GradualUnfreeze
with the top k backbone groups unfrozen, compile_seconds = the re-trace;
`full`: full fine-tune) x configurations (`float32`, `mixed`, `xla`,
`mixed+xla`, `auto` = what the peer picks by itself: Keras's defaults for
keras-baseline, `select_precision("auto")` for keras_transfer) x peers
(`keras-baseline`: plain compile/fit; `keras_transfer`: our components;
`tf_keras+hub`: tf_keras Sequential + hub.KerasLayer over a SavedModel
exported with `export_reusable_savedmodel`, float32 tf_keras defaults).
keras_transfer runs only `auto`: its explicit configurations set the same
policy and jit flag as keras-baseline's.

Inputs, reported separately: `synthetic` (one device-resident batch,
`train_on_batch`, loss read every step) and, for `auto` rows of the
`--pipeline-phases` (default head_frozen: on TF a `fit` after
`train_on_batch` re-traces the train step, a second compile), a real pipeline
(`arrays`: `model.fit(x, y)` for keras-baseline; `tf.data` from `make_dataset`
for keras_transfer, NumPy batches without TensorFlow; `tf.data` for tf_keras).
`--quick`: MobileNetV2 64 px, batch 32, auto; head_frozen (three peers,
both inputs), head_cached, full (keras_transfer only, synthetic).
Method (shared/BENCHMARKS.md): warm-up until compiled (`compile_seconds` is
the first call), timed steady steps, repeats alternating between the cells of
a group (round robin), median/min/max, peak matmul GFLOP/s measured in the
same run, `roofline_fraction` = img/s x GFLOP/img / peak of the row's
precision. Weights are random (`weights=None`): nothing is downloaded and
throughput does not depend on weight values. TensorFlow, tf_keras and
tensorflow_hub are imported only by the rows that need them.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
import warnings

# Run from a checkout without installing: the repository root holds keras_transfer.
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import _throughput_models as tm  # noqa: E402

PEERS = ("keras-baseline", "keras_transfer", "tf_keras+hub")
BACKENDS = ("tensorflow", "jax", "torch")
PHASES = ("head_frozen", "head_cached", "unfreeze", "full")
INPUTS = ("synthetic", "pipeline")
BLOCKED = ("tensorflow", "tf_keras", "tensorflow_hub")
T0 = time.perf_counter()


class _NoTensorFlow:
    """Meta-path finder that makes TensorFlow look uninstalled (--no-tensorflow)."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"No module named {name!r} (--no-tensorflow)")
        return None


def _choices(option: str, allowed: tuple):
    def parse(text: str) -> list:
        values = [v.strip() for v in text.split(",") if v.strip()]
        bad = [v for v in values if v not in allowed]
        if not values or bad:
            raise argparse.ArgumentTypeError(
                f"{option} takes a comma-separated list of {list(allowed)}; "
                f"got {text!r}"
            )
        return values

    return parse


def _int(option: str, minimum: int, multiple: int = 1):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{option} must be an integer; got {text!r}"
            ) from None
        if value < minimum or value % multiple:
            extra = f" and a multiple of {multiple}" if multiple > 1 else ""
            raise argparse.ArgumentTypeError(
                f"{option} must be >= {minimum}{extra}; got {value}"
            )
        return value

    return parse


def _int_list(option: str, minimum: int, multiple: int = 1):
    one = _int(option, minimum, multiple)
    return lambda text: [one(v) for v in text.split(",") if v.strip()] or one("")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--quick", action="store_true", help="small suite, ~2 min on 2 CPU cores")
    add(
        "--models",
        type=_choices("--models", tm.MODELS),
        help=f"subset of {list(tm.MODELS)}",
    )
    add("--image-size", type=_int_list("--image-size", 32), help="px, comma list")
    add(
        "--batch-size",
        type=_int_list("--batch-size", 8, 8),
        help="multiples of 8, comma list",
    )
    add("--phases", type=_choices("--phases", PHASES), help=f"subset of {list(PHASES)}")
    add("--stages", type=_int("--stages", 0), help="GradualUnfreeze stages to time")
    add(
        "--configs",
        type=_choices("--configs", tm.CONFIGS),
        help=f"subset of {list(tm.CONFIGS)}",
    )
    add("--peers", type=_choices("--peers", PEERS), help=f"subset of {list(PEERS)}")
    add("--inputs", type=_choices("--inputs", INPUTS), help="synthetic and/or pipeline")
    add(
        "--hub",
        type=_choices("--hub", tm.MODELS),
        help="models to also run as HubBackbone",
    )
    add("--no-hub", action="store_true", help="no HubBackbone rows")
    add("--steps", type=_int("--steps", 2), help="timed steps per repeat")
    add("--warmup", type=_int("--warmup", 0), help="steps after the compiling one")
    add(
        "--repeats",
        type=_int("--repeats", 1),
        help="repeats (>= 3 for reported numbers)",
    )
    add(
        "--pipeline-phases",
        type=_choices("--pipeline-phases", PHASES),
        help="phases whose auto rows also run the real input pipeline",
    )
    add(
        "--full-peers",
        type=_choices("--full-peers", PEERS),
        help="peers of the full fine-tune phase (default: --peers)",
    )
    add(
        "--cache-images",
        type=_int("--cache-images", 8),
        default=1024,
        help="images the cached head trains on per epoch",
    )
    add(
        "--cache-epochs",
        type=_int("--cache-epochs", 1),
        default=10,
        help="head epochs the feature extraction is amortized over",
    )
    add("--matmul-size", type=_int("--matmul-size", 64, 8), default=2048)
    add("--json", help="write results JSON here")
    add("--png", help="write a bar chart here")
    add(
        "--no-tensorflow",
        action="store_true",
        help="act as if TensorFlow were not installed (checks the JAX-only path)",
    )
    add(
        "--auto",
        choices=("measured", "rule"),
        default="measured",
        help="keras_transfer auto rows of head_frozen/full: select_precision('auto', "
        "model=...) on autotune's cached measurement (autotune runs first when "
        "nothing is cached), or the device-class rule",
    )
    add("--autotune-cache", help="autotune cache folder (default: keras_transfer's)")
    add(
        "--backends",
        type=_choices("--backends", BACKENDS),
        help=f"run once per Keras backend ({', '.join(BACKENDS)}; one subprocess "
        "each) and report all rows in one table",
    )
    return parser.parse_args(argv)


def _defaults(args: argparse.Namespace, on_gpu: bool) -> None:
    quick = {
        "models": ["MobileNetV2"],
        "image_size": [64],
        "batch_size": [32],
        "phases": ["head_frozen", "head_cached", "full"],
        "stages": 0,
        "configs": ["auto"],
        "peers": list(PEERS),
        "inputs": list(INPUTS),
        "pipeline_phases": ["head_frozen"],
        "full_peers": ["keras_transfer"],
        "hub": [],
        "steps": 4,
        "warmup": 1,
        "repeats": 3,
    }
    full = {
        "models": ["ResNet50", "MobileNetV2", "EfficientNetB0"],
        "image_size": [224 if on_gpu else 128],
        "batch_size": [32],
        "phases": list(PHASES),
        "stages": 2,
        "configs": list(tm.CONFIGS),
        "peers": list(PEERS),
        "inputs": list(INPUTS),
        "hub": ["MobileNetV2"],
        "pipeline_phases": ["head_frozen"],
        "full_peers": list(PEERS),
        "steps": 20,
        "warmup": 3,
        "repeats": 3,
    }
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.no_hub:
        args.hub = []


def plan(args: argparse.Namespace, reasons: dict) -> tuple[list, list]:
    """Groups of cell specs (alternated within a group) and skipped rows."""
    groups, skipped = [], []
    backend_jax = reasons["backend"] == "jax"

    def spec(model, size, batch, phase, peer, config, stage=None, hub=False):
        return {
            "model": model,
            "image_size": size,
            "batch_size": batch,
            "phase": phase,
            "peer": peer,
            "config": config,
            "stage": stage,
            "hub": hub,
            "hub_path": None,
        }

    for model in args.models:
        for size in args.image_size:
            for batch in args.batch_size:
                head, stages, full = [], [], []
                for peer in args.peers:
                    for config in args.configs:
                        if peer == "keras_transfer" and config != "auto":
                            continue
                        if peer == "tf_keras+hub" and config != "auto":
                            continue
                        row = {"model": model, "peer": peer, "config": config}
                        if peer == "tf_keras+hub" and reasons["legacy"]:
                            skipped.append({**row, "reason": reasons["legacy"]})
                            continue
                        if backend_jax and config in ("float32", "mixed"):
                            skipped.append(
                                {
                                    **row,
                                    "reason": "JAX: jit_compile=False runs op by op (eager); not a training configuration",
                                }
                            )
                            continue
                        if reasons["backend"] == "torch" and config in (
                            "xla",
                            "mixed+xla",
                        ):
                            skipped.append(
                                {
                                    **row,
                                    "reason": "torch: jit_compile=True means torch.compile, not XLA; not measured by this harness",
                                }
                            )
                            continue
                        if "head_frozen" in args.phases:
                            head.append(
                                spec(model, size, batch, "head_frozen", peer, config)
                            )
                        if "full" in args.phases and peer in args.full_peers:
                            full.append(spec(model, size, batch, "full", peer, config))
                        if peer == "keras_transfer" and "head_cached" in args.phases:
                            head.append(
                                spec(model, size, batch, "head_cached", peer, config)
                            )
                        if peer == "keras_transfer" and "unfreeze" in args.phases:
                            for stage in range(1, args.stages + 1):
                                stages.append(
                                    spec(
                                        model,
                                        size,
                                        batch,
                                        "unfreeze",
                                        peer,
                                        config,
                                        stage,
                                    )
                                )
                if (
                    model in args.hub
                    and "keras_transfer" in args.peers
                    and "auto" in args.configs
                ):
                    if reasons["hub"]:
                        skipped.append(
                            {
                                "model": f"{model}+HubBackbone",
                                "peer": "keras_transfer",
                                "config": "auto",
                                "reason": reasons["hub"],
                            }
                        )
                    else:
                        for phase in ("head_frozen", "head_cached", "full"):
                            if phase in args.phases:
                                (full if phase == "full" else head).append(
                                    spec(
                                        model,
                                        size,
                                        batch,
                                        phase,
                                        "keras_transfer",
                                        "auto",
                                        hub=True,
                                    )
                                )
                groups += [g for g in (head, stages, full) if g]
    return groups, skipped


def _median_row(cell, kind: str, peaks: dict, ref_macs: dict) -> dict | None:
    samples = cell.samples.get(kind) or []
    if not samples:
        return None
    spec, extra = cell.spec, cell.extra
    name = f"{spec['model']}+HubBackbone" if spec["hub"] else spec["model"]
    precision = extra["policy"]
    total = ref_macs[(spec["model"], spec["image_size"])]
    counted = extra.get("counted_macs")
    if spec["hub"] or spec["peer"] == "tf_keras+hub" or counted is None:
        counted = (total, total if spec["phase"] == "full" else 0.0)
    gflop = tm.gflop_per_image(
        spec["model"], spec["image_size"], counted, spec["phase"]
    )
    median = statistics.median(samples)
    peak = peaks["bfloat16" if "16" in precision else "float32"]
    row = {
        "model": name,
        "image_size": spec["image_size"],
        "batch_size": spec["batch_size"],
        "phase": spec["phase"],
        "peer": spec["peer"],
        "precision": precision,
        "jit_compile": extra.get("jit_compile", False),
        "steps_per_execution": 1,
        "images_per_sec": median,
        "images_per_sec_min": min(samples),
        "images_per_sec_max": max(samples),
        "compile_seconds": extra["compile_seconds"],
        "roofline_fraction": None if gflop is None else median * gflop / peak,
        "config": spec["config"],
        "input": "synthetic" if kind == "synthetic" else extra["pipeline_input"],
        "stage": spec["stage"],
        "repeats": len(samples),
        "gflop_per_image": gflop,
    }
    if gflop is None:
        row["roofline_note"] = (
            "null: a Dense head on cached features is overhead-bound; the FLOP roofline does not apply"
        )
    elif spec["phase"] != "full":
        row["roofline_note"] = (
            "GFLOP = forward of all + backward (2x) of the trained layers"
        )
    for key in (
        "note",
        "feature_seconds",
        "dataset_images",
        "extraction",
        "auto_pick",
        "auto_source",
        "autotune_seconds",
    ):
        if key in extra:
            row[key] = extra[key]
    return row


def _auto_for(spec: dict, args, settings: dict, auto_choice) -> tuple[object, dict]:
    """The precision choice of a row and, for `auto` rows, what it picked and how."""
    if spec["config"] != "auto":
        return auto_choice, {}
    if spec["peer"] != "keras_transfer":
        return auto_choice, {
            "auto_source": "peer defaults"
        }  # pick: what setup resolved
    if (
        args.auto == "measured"
        and spec["phase"] in ("head_frozen", "full")
        and not spec["hub"]
    ):
        import _throughput_cells as tc

        choice, seconds = tc.measured_auto(spec, settings, args.autotune_cache)
        source = "measured" if "(autotune:" in choice.reason else "device rule"
        return choice, {
            "auto_pick": _pick(choice),
            "auto_source": source,
            "autotune_seconds": seconds,
        }
    return auto_choice, {"auto_pick": _pick(auto_choice), "auto_source": "device rule"}


def _pick(choice) -> str:
    return f"{choice.policy}{'+xla' if choice.jit_compile else ''}"


def run_groups(
    groups: list, args, auto_choice, peaks: dict, hub_paths: dict, skipped: list
) -> list[dict]:
    import _throughput_cells as tc
    import keras

    results, ref_macs = [], {}
    settings = {"steps": args.steps, "warmup": args.warmup, "repeats": args.repeats}
    for group in groups:
        cells = []
        for spec in group:
            key = (spec["model"], spec["image_size"])
            if key not in ref_macs:
                ref_macs[key] = tm.counted_macs(
                    tm.classifier(tm.build_backbone(*key), key[1])
                )[0]
            n = (args.steps + 1) * spec["batch_size"]
            if spec["phase"] == "head_cached":
                n = max(n, args.cache_images // spec["batch_size"] * spec["batch_size"])
            data = tm.synthetic_data(spec["image_size"], n)
            inputs = (
                ["pipeline"]
                if spec["phase"] == "head_cached"
                else [
                    k
                    for k in args.inputs
                    if k == "synthetic"
                    or (
                        spec["config"] == "auto"
                        and spec["phase"] in args.pipeline_phases
                    )
                ]
            )
            if not inputs:
                continue
            if spec["hub"] or spec["peer"] == "tf_keras+hub":
                spec["hub_path"] = hub_paths[key]
            label = f"{spec['model']} {spec['phase']}{spec['stage'] or ''} {spec['peer']} {spec['config']}"
            print(
                f"# {time.perf_counter() - T0:6.1f} s: setting up {label}"
                f"{' (HubBackbone)' if spec['hub'] else ''}",
                file=sys.stderr,
                flush=True,
            )
            try:
                choice, pick = _auto_for(spec, args, settings, auto_choice)
                if spec["peer"] == "tf_keras+hub":
                    import _throughput_legacy as tl

                    cell = tl.LegacyCell(
                        spec, data, choice, {**settings, "inputs": inputs}
                    )
                else:
                    cell = tc.KerasCell(
                        spec, data, choice, {**settings, "inputs": inputs}
                    )
                cell.setup()
                if pick.get("auto_source") == "peer defaults":
                    pick["auto_pick"] = cell.extra["policy"] + (
                        "+xla" if cell.extra.get("jit_compile") else ""
                    )
                cell.extra.update(pick)
            except Exception as error:  # noqa: BLE001 - a row that cannot run is recorded
                skipped.append(
                    {
                        "model": spec["model"],
                        "peer": spec["peer"],
                        "config": spec["config"],
                        "phase": spec["phase"],
                        "reason": f"{type(error).__name__}: {str(error)[:300]}",
                    }
                )
                print(f"#   skipped: {skipped[-1]['reason']}", file=sys.stderr)
                continue
            cells.append(cell)
        print(
            f"# {time.perf_counter() - T0:6.1f} s: measuring {len(cells)} cells",
            file=sys.stderr,
            flush=True,
        )
        for repeat in range(args.repeats):
            order = (
                cells[repeat % max(len(cells), 1) :]
                + cells[: repeat % max(len(cells), 1)]
            )
            for cell in order:
                for kind in cell.samples:
                    cell.measure(kind)
        for cell in cells:
            for kind in cell.samples:
                row = _median_row(cell, kind, peaks, ref_macs)
                if row:
                    results.append(row)
            cell.close()
        del cells
        keras.backend.clear_session()
        gc.collect()
    return results


def main(argv: list[str] | None = None) -> int:
    """Runs the suite; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.backends:
        return _main_backends(args, argv)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning)
        return _main(args)


def _without(argv: list[str], options: tuple[str, ...]) -> list[str]:
    """`argv` without `options` and their values (`--opt v` or `--opt=v`)."""
    kept, skip = [], False
    for item in argv:
        if skip:
            skip = False
        elif item in options:
            skip = True
        elif not item.startswith(tuple(f"{o}=" for o in options)):
            kept.append(item)
    return kept


def _main_backends(args: argparse.Namespace, argv: list[str]) -> int:
    """One subprocess per backend (Keras picks its backend at import), one report."""
    import json
    import subprocess
    import tempfile

    import _throughput_report as tr

    start = time.perf_counter()
    base = _without(argv, ("--backends", "--json", "--png"))
    payloads, failures = {}, {}
    with tempfile.TemporaryDirectory() as folder:
        for backend in args.backends:
            out = os.path.join(folder, f"{backend}.json")
            print(
                f"# {time.perf_counter() - T0:6.1f} s: KERAS_BACKEND={backend}",
                file=sys.stderr,
                flush=True,
            )
            proc = subprocess.run(
                [sys.executable, os.path.abspath(__file__), *base, "--json", out],
                env={**os.environ, "KERAS_BACKEND": backend},
                stdout=subprocess.PIPE,
                text=True,
            )
            if proc.returncode != 0 or not os.path.exists(out):
                failures[backend] = f"exit status {proc.returncode}"
                continue
            with open(out) as handle:
                payloads[backend] = json.load(handle)
    results = [
        {**row, "backend": backend}
        for backend, payload in payloads.items()
        for row in payload["results"]
    ]
    summary = tr.backend_ratios(results)
    for backend, payload in payloads.items():
        summary += [f"{backend}: {line}" for line in payload["environment"]["summary"]]
    env = {
        "backends": {b: p["environment"] for b, p in payloads.items()},
        "failed_backends": failures,
        "cpu": next(iter(payloads.values()))["environment"]["cpu"]
        if payloads
        else None,
        "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
        "summary": summary,
        "wall_seconds": time.perf_counter() - start,
    }
    print(tr.markdown(results))
    print()
    for line in summary:
        print(f"- {line}")
    for backend, payload in payloads.items():
        peaks = payload["environment"]["peak_matmul_gflops"]
        print(
            f"- {backend} peak matmul GFLOP/s: float32 {peaks['float32']:.0f}, "
            f"bfloat16 {peaks['bfloat16']:.0f} ({peaks['method']})"
        )
    for backend, reason in failures.items():
        print(f"- {backend} failed: {reason}")
    if args.json:
        tr.write_json(args.json, {"environment": env, "results": results})
    if args.png:
        note = tr.write_png(
            args.png, results, f"{', '.join(payloads)} on {env['cpu']['model']}"
        )
        if note:
            print(note)
    return 1 if failures else 0


def _main(args: argparse.Namespace) -> int:
    if args.no_tensorflow:
        sys.meta_path.insert(0, _NoTensorFlow())
        if os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
            raise SystemExit(
                "--no-tensorflow needs KERAS_BACKEND=jax (Keras would import TensorFlow)"
            )
    import _throughput_legacy as tl
    import _throughput_report as tr
    import keras

    from keras_transfer.throughput import select_precision

    start = time.perf_counter()
    auto_choice = select_precision("auto")
    on_gpu = auto_choice.device.startswith(("gpu", "tpu"))
    _defaults(args, on_gpu)
    if args.repeats < 3:
        print(
            f"# note: --repeats {args.repeats} < 3: smoke settings, not reportable numbers",
            file=sys.stderr,
        )
    reasons = {
        "backend": keras.backend.backend(),
        "legacy": tl.legacy_reason(args.no_tensorflow),
        "hub": tl.unavailable_reason(args.no_tensorflow),
    }
    groups, skipped = plan(args, reasons)
    notes = [
        "weights=None (random init): nothing downloaded; throughput does not depend on weight values",
        f"auto = select_precision('auto'): {auto_choice.reason}",
        f"keras_transfer auto rows of head_frozen/full: --auto {args.auto} "
        "(measured: select_precision('auto', model=...) on autotune's cached result)",
        "keras-baseline 'auto' = Keras defaults (float32 policy, jit_compile='auto')",
        "shared, noisy machine: compare rows within this run (ratios), not across runs",
    ]
    if not on_gpu and 224 not in args.image_size:
        notes.append(
            f"CPU: image size {args.image_size} px instead of 224 to fit the time budget"
        )
    print("# measuring peak matmul GFLOP/s", file=sys.stderr, flush=True)
    peaks = tr.peak_matmul_gflops(args.matmul_size)
    hub_paths = {}
    wanted = {
        (s["model"], s["image_size"])
        for g in groups
        for s in g
        if s["hub"] or s["peer"] == "tf_keras+hub"
    }
    if wanted:
        root = tl.export_root()
        for key in sorted(wanted):
            t0 = time.perf_counter()
            hub_paths[key] = tl.export_backbone(*key, root)
            notes.append(
                f"exported {key[0]} {key[1]}px SavedModel in {time.perf_counter() - t0:.1f} s"
            )
    results = run_groups(groups, args, auto_choice, peaks, hub_paths, skipped)
    summary = tr.add_ratios(results, args.cache_epochs)
    env = tr.environment(auto_choice.device, peaks, notes)
    print(
        f"- CPU: {env['cpu']['model']} ({', '.join(env['cpu']['extensions']) or 'none of '}"
        f"{'' if env['cpu']['extensions'] else 'avx2/avx512f/avx512_bf16/amx'})",
        file=sys.stderr,
    )
    env["skipped"] = skipped
    env["summary"] = summary
    env["wall_seconds"] = time.perf_counter() - start
    print(tr.markdown(results))
    print()
    for line in summary:
        print(f"- {line}")
    for item in skipped:
        print(
            f"- skipped {item.get('model')} {item.get('peer')} {item.get('config')}: {item['reason']}"
        )
    print(
        f"- peak matmul GFLOP/s: float32 {peaks['float32']:.0f}, bfloat16 {peaks['bfloat16']:.0f} ({peaks['method']})"
        f"; CPU {env['cpu']['model']}, extensions {env['cpu']['extensions']}"
    )
    if args.json:
        tr.write_json(args.json, {"environment": env, "results": results})
    if args.png:
        title = f"{keras.backend.backend()} on {auto_choice.device}"
        note = tr.write_png(args.png, results, title)
        if note:
            print(note)
    print(f"# done in {env['wall_seconds']:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
