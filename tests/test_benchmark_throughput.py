"""Smoke tests of the images/sec harness, benchmarks/throughput.py (tiny settings).

No timing asserts: the rows' numbers are checked for schema, internal
consistency (median within min/max, ratios computed from the rows) and range.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import keras
import pytest

BENCHMARKS = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"
)
sys.path.insert(0, BENCHMARKS)

import throughput  # noqa: E402

ROW_TYPES = {
    "model": str,
    "image_size": int,
    "batch_size": int,
    "phase": str,
    "peer": str,
    "precision": str,
    "jit_compile": bool,
    "steps_per_execution": int,
    "images_per_sec": float,
    "images_per_sec_min": float,
    "images_per_sec_max": float,
    "compile_seconds": float,
    "roofline_fraction": (float, type(None)),
}
TINY = [
    "--models", "tiny", "--image-size", "32", "--batch-size", "8", "--steps", "2",
    "--warmup", "1", "--repeats", "2", "--matmul-size", "128", "--cache-images", "64",
    "--configs", "auto", "--auto", "rule",
]  # fmt: skip


def check_payload(payload: dict, backend: str | None = None) -> None:
    assert set(payload) == {"environment", "results"}
    env = payload["environment"]
    for key in ("backend", "device", "cpu_count", "versions", "peak_matmul_gflops"):
        assert key in env, key
    assert env["backend"] == (backend or keras.backend.backend())
    assert isinstance(env["cpu_count"], int) and env["cpu_count"] >= 1
    assert env["versions"]["keras"] == keras.__version__
    for dtype in ("float32", "bfloat16"):
        assert env["peak_matmul_gflops"][dtype] > 0
    assert set(env["cpu"]) == {"model", "extensions"} and env["cpu"]["model"]
    assert set(env["cpu"]["extensions"]) <= {"avx2", "avx512f", "avx512_bf16", "amx"}
    assert payload["results"]
    for row in payload["results"]:
        for key, kind in ROW_TYPES.items():
            assert isinstance(row[key], kind), (key, row[key])
        assert row["batch_size"] % 8 == 0
        assert (
            row["images_per_sec_min"]
            <= row["images_per_sec"]
            <= row["images_per_sec_max"]
        )
        assert row["images_per_sec_min"] > 0
        assert row["compile_seconds"] > 0
        fraction = row["roofline_fraction"]
        if fraction is None:
            assert row["roofline_note"].startswith("null:")
        else:
            assert 0 < fraction <= 1, row
            peak = env["peak_matmul_gflops"][
                "bfloat16" if "16" in row["precision"] else "float32"
            ]
            expected = row["images_per_sec"] * row["gflop_per_image"] / peak
            assert fraction == pytest.approx(expected)


def table_rows(stdout: str) -> list[str]:
    lines = [line for line in stdout.splitlines() if line.startswith("|")]
    assert lines[0].startswith("| model | px | batch | phase | peer |")
    assert set(lines[1]) <= set("|-")
    return lines[2:]


def _main(tmp_path, capsys, args: list[str]) -> tuple[dict, list[str], str]:
    out, png = tmp_path / "out.json", tmp_path / "out.png"
    assert throughput.main([*TINY, *args, "--json", str(out), "--png", str(png)]) == 0
    payload = json.loads(out.read_text())
    check_payload(payload)
    assert not [
        p for p in os.listdir(tmp_path) if p.startswith(".tmp-")
    ]  # atomic writes
    return payload, table_rows(capsys.readouterr().out), str(png)


def test_tiny_run_schema_table_png_and_cache_ratios(tmp_path, capsys):
    payload, table, png = _main(
        tmp_path, capsys,
        ["--phases", "head_frozen,head_cached", "--inputs", "synthetic",
         "--peers", "keras-baseline,keras_transfer"],
    )  # fmt: skip
    results = payload["results"]
    assert len(table) == len(results)
    with open(png, "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    assert os.path.getsize(png) > 1000
    by_key = {(r["phase"], r["peer"], r["input"]): r for r in results}
    assert set(by_key) == {
        ("head_frozen", "keras-baseline", "synthetic"),
        ("head_frozen", "keras_transfer", "synthetic"),
        ("head_cached", "keras_transfer", "cached-features"),
    }
    cached = by_key[("head_cached", "keras_transfer", "cached-features")]
    frozen = by_key[("head_frozen", "keras-baseline", "synthetic")]
    assert cached["dataset_images"] == 64 and cached["feature_seconds"] > 0
    assert cached["roofline_fraction"] is None
    assert cached["speedup_vs_head_frozen"]["synthetic"] == pytest.approx(
        cached["images_per_sec"] / frozen["images_per_sec"]
    )
    # Amortized over 10 epochs the extraction time counts: a lower speedup.
    assert (
        cached["amortized_10_epochs_speedup_vs_head_frozen"]["synthetic"]
        < cached["speedup_vs_head_frozen"]["synthetic"]
    )
    assert payload["environment"]["versions"]["keras"] == keras.__version__


@pytest.mark.slow
def test_tiny_run_pipelines_and_full_phase(tmp_path, capsys):
    payload, table, _ = _main(
        tmp_path, capsys,
        ["--phases", "head_frozen,full", "--pipeline-phases", "head_frozen,full",
         "--peers", "keras-baseline,keras_transfer"],
    )  # fmt: skip
    results = payload["results"]
    assert len(table) == len(results)
    pipeline = "tf.data" if importlib.util.find_spec("tensorflow") else "numpy-batches"
    by_key = {(r["phase"], r["peer"], r["input"]): r for r in results}
    assert set(by_key) == {
        (phase, peer, source)
        for phase in ("head_frozen", "full")
        for peer, source in (
            ("keras-baseline", "synthetic"),
            ("keras-baseline", "arrays"),
            ("keras_transfer", "synthetic"),
            ("keras_transfer", pipeline),
        )
    }
    auto = by_key[("full", "keras_transfer", pipeline)]
    base = by_key[("full", "keras-baseline", "arrays")]
    assert auto["ratio_vs_keras_default"] == pytest.approx(
        auto["images_per_sec"] / base["images_per_sec"]
    )
    # Roofline GFLOP/image: the full fine-tune trains all layers (3x forward),
    # the frozen head phase runs the forward of all (the head is tiny).
    frozen = by_key[("head_frozen", "keras-baseline", "synthetic")]
    assert base["gflop_per_image"] / frozen["gflop_per_image"] == pytest.approx(
        3, rel=0.02
    )


@pytest.mark.parametrize(
    "argv, option",
    [
        (["--batch-size", "12"], "--batch-size"),
        (["--batch-size", "0"], "--batch-size"),
        (["--models", "ResNet51"], "--models"),
        (["--configs", "fp8"], "--configs"),
        (["--repeats", "0"], "--repeats"),
        (["--image-size", "sixteen"], "--image-size"),
        (["--peers", "torch"], "--peers"),
    ],
)
def test_bad_input_is_an_argparse_error_naming_the_option(argv, option, capsys):
    with pytest.raises(SystemExit) as error:
        throughput.parse_args(argv)
    assert error.value.code == 2
    assert f"argument {option}:" in capsys.readouterr().err


def _run(args: list[str], backend: str, tmp_path) -> tuple[dict, str]:
    out = tmp_path / "out.json"
    env = {**os.environ, "KERAS_BACKEND": backend}
    proc = subprocess.run(
        [sys.executable, os.path.join(BENCHMARKS, "throughput.py"), *TINY, *args, "--json", str(out)],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text()), proc.stdout


@pytest.mark.slow
def test_without_tensorflow_the_tf_rows_are_skipped_with_a_reason(tmp_path):
    """The accelerator machine has JAX but no TensorFlow: the harness still runs."""
    payload, stdout = _run(
        ["--no-tensorflow", "--phases", "head_frozen,head_cached", "--hub", "tiny"],
        "jax",
        tmp_path,
    )
    check_payload(payload, "jax")
    skipped = payload["environment"]["skipped"]
    reasons = {item["peer"]: item["reason"] for item in skipped}
    assert "--no-tensorflow" in reasons["tf_keras+hub"]
    assert any(item["model"] == "tiny+HubBackbone" for item in skipped)
    inputs = {r["input"] for r in payload["results"]}
    assert inputs == {"synthetic", "arrays", "numpy-batches", "cached-features"}
    assert {r["peer"] for r in payload["results"]} == {
        "keras-baseline",
        "keras_transfer",
    }
    assert all(
        r["jit_compile"] for r in payload["results"] if r["phase"] != "head_cached"
    )
    assert "skipped tiny tf_keras+hub auto" in stdout


@pytest.mark.slow
@pytest.mark.tensorflow_only
def test_legacy_peer_hub_backbone_and_unfreeze_stages(tmp_path):
    payload, stdout = _run(
        ["--phases", "head_frozen,unfreeze,full", "--stages", "2", "--hub", "tiny",
         "--inputs", "synthetic"], "tensorflow", tmp_path,
    )  # fmt: skip
    check_payload(payload, "tensorflow")
    results = payload["results"]
    assert payload["environment"]["skipped"] == []
    legacy = [r for r in results if r["peer"] == "tf_keras+hub"]
    assert {r["phase"] for r in legacy} == {"head_frozen", "full"}
    hub = [r for r in results if r["model"] == "tiny+HubBackbone"]
    assert {r["phase"] for r in hub} == {"head_frozen", "full"}
    stages = sorted(
        (r for r in results if r["phase"] == "unfreeze"), key=lambda r: r["stage"]
    )
    assert [r["stage"] for r in stages] == [1, 2]
    assert "re-trace" in stages[0]["note"] and "'block2'" in stages[0]["note"]
    assert "'block1'" in stages[1]["note"]
    # Stage 2 trains more layers than stage 1: more GFLOP per image.
    assert stages[1]["gflop_per_image"] > stages[0]["gflop_per_image"]
    assert len(table_rows(stdout)) == len(results)


def test_measured_auto_row_shows_its_pick(tmp_path, capsys):
    payload, table, _ = _main(
        tmp_path, capsys,
        ["--phases", "head_frozen", "--inputs", "synthetic", "--peers", "keras_transfer",
         "--auto", "measured", "--autotune-cache", str(tmp_path / "autotune")],
    )  # fmt: skip
    (row,) = payload["results"]
    assert row["auto_source"] == "measured"
    assert row["auto_pick"] == row["precision"] + ("+xla" if row["jit_compile"] else "")
    assert row["autotune_seconds"] > 0
    assert f"auto -> {row['auto_pick']} (measured)" in table[0]
    assert len(os.listdir(tmp_path / "autotune")) == 1  # one cached measurement


def test_backend_rows_argv_and_ratios():
    argv = [
        "--quick",
        "--backends",
        "jax,torch",
        "--json=x.json",
        "--png",
        "x.png",
        "--steps",
        "3",
    ]
    assert throughput._without(argv, ("--backends", "--json", "--png")) == [
        "--quick",
        "--steps",
        "3",
    ]
    import _throughput_report as tr

    def row(backend, value):
        return {
            "backend": backend,
            "model": "tiny",
            "image_size": 32,
            "batch_size": 8,
            "phase": "full",
            "peer": "keras-baseline",
            "config": "auto",
            "input": "synthetic",
            "stage": None,
            "images_per_sec": value,
        }

    rows = [row("tensorflow", 40.0), row("jax", 50.0), row("torch", 10.0)]
    lines = tr.backend_ratios(rows)
    assert [r.get("ratio_vs_tensorflow") for r in rows] == [None, 1.25, 0.25]
    assert (
        lines[0]
        == "jax vs tensorflow: tiny full keras-baseline auto (synthetic): 1.25x"
    )


def test_cache_end_to_end_ratio_counts_one_time_costs_on_both_sides():
    import _throughput_report as tr

    common = {"model": "tiny", "image_size": 32, "batch_size": 8, "config": "auto"}
    plain = {
        **common,
        "phase": "head_frozen",
        "peer": "keras-baseline",
        "input": "synthetic",
        "images_per_sec": 100.0,
        "compile_seconds": 2.0,
    }
    cached = {**common, "phase": "head_cached", "peer": "keras_transfer",
              "input": "cached-features", "images_per_sec": 1000.0,
              "compile_seconds": 0.5, "feature_seconds": 3.0, "dataset_images": 100}  # fmt: skip
    (line,) = tr.add_ratios([plain, cached], amortize_epochs=10)
    # Plain: 2 s compile + 10 epochs x 100 images / 100 img/s = 12 s. Cached:
    # 3 s extraction + 0.5 s first epoch + 9 epochs x 0.1 s = 4.4 s.
    ratio = cached["amortized_10_epochs_speedup_vs_head_frozen"]["synthetic"]
    assert ratio == pytest.approx(12.0 / 4.4)
    assert cached["speedup_vs_head_frozen"]["synthetic"] == pytest.approx(10.0)
    assert "end to end over 10 epochs of 100 images 2.7x (4.4 s" in line
