"""`select_precision("auto", model=...)`: the `autotune` winner cached on disk."""

import keras
import numpy as np
import pytest
from _policy_clock import PolicyClock

from keras_transfer._device import describe_cpu
from keras_transfer.throughput import PrecisionChoice, autotune, select_precision
from keras_transfer.throughput import _autotune as autotune_module
from keras_transfer.throughput import _select_precision as select_module
from keras_transfer.throughput._tuning_cache import architecture_signature


def _device(extensions=("avx2", "avx512f", "avx512_bf16")):
    return {
        "kind": "cpu",
        "name": "Stub CPU",
        "compute_capability": None,
        "cpu_count": 2,
        "cpu": {"model": "Stub CPU", "extensions": list(extensions)},
        "backend": keras.backend.backend(),
    }


@pytest.fixture
def stub_device(monkeypatch):
    state = {"device": _device()}
    for module in (autotune_module, select_module):
        monkeypatch.setattr(module, "describe_device", lambda: state["device"])
    return state


def _build(width=8):
    inputs = keras.Input((6,))
    hidden = keras.layers.Dense(width)(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1, dtype="float32")(hidden))
    model.compile(optimizer="sgd", loss="mse")
    return model


def _tune(tmp_path, batch_size=8):
    jit = keras.backend.backend() == "jax"
    candidates = [
        PrecisionChoice("float32", jit),
        PrecisionChoice("mixed_bfloat16", jit),
    ]
    x, y = np.ones((16, 6), "float32"), np.ones((16, 1), "float32")
    clock = PolicyClock({"float32": 1.0, "mixed_bfloat16": 0.25})
    return autotune(
        _build,
        x,
        y,
        candidates=candidates,
        batch_size=batch_size,
        steps=2,
        timer=clock,
        cache_dir=str(tmp_path),
    )


def test_auto_uses_the_cached_autotune_winner(tmp_path, stub_device):
    best, _ = _tune(tmp_path)
    assert best.policy == "mixed_bfloat16" and str(tmp_path) in best.reason
    choice = select_precision(
        "auto", model=_build(), batch_size=8, cache_dir=str(tmp_path)
    )
    assert choice.policy == "mixed_bfloat16"  # not the CPU rule's float32
    assert choice.jit_compile is best.jit_compile
    assert (
        "precision auto -> mixed_bfloat16 (autotune: fastest of 2 candidates at 64.0 img/s"
        in (choice.reason)
    )
    # An explicit setting still wins over the measurement.
    explicit = select_precision(
        "float32", model=_build(), batch_size=8, cache_dir=str(tmp_path)
    )
    assert explicit.policy == "float32"


@pytest.mark.parametrize(
    "change",
    [
        "batch_size",
        "input_shape",
        "architecture",
        "cpu_extensions",
        "cpu_model",
        "backend_version",
    ],
)
def test_a_measurement_is_reused_only_for_its_own_key(
    tmp_path, stub_device, monkeypatch, change
):
    _tune(tmp_path)
    kwargs = {"model": _build(), "batch_size": 8, "cache_dir": str(tmp_path)}
    if change == "batch_size":
        kwargs["batch_size"] = 16
    elif change == "input_shape":
        kwargs["input_shape"] = (7,)
    elif change == "architecture":
        kwargs["model"] = _build(width=4)
    elif change == "cpu_extensions":
        stub_device["device"] = _device(extensions=("avx2",))
    elif change == "cpu_model":
        stub_device["device"] = dict(
            _device(), cpu={"model": "Other", "extensions": []}
        )
    else:
        monkeypatch.setattr(keras, "__version__", "0.0.0")
    choice = select_precision("auto", **kwargs)
    assert choice.policy == "float32"  # the device-class rule for a CPU
    assert "no autotune result cached for this model" in choice.reason


def test_without_a_cache_entry_the_reason_says_how_to_measure(tmp_path, stub_device):
    choice = select_precision("auto", model=_build(), cache_dir=str(tmp_path))
    assert choice.policy == "float32"
    assert "input shape (6,) and batch size 32" in choice.reason
    assert "`autotune(build_model, x, y, batch_size=...)`" in choice.reason


def test_autotune_cache_false_writes_nothing(tmp_path, stub_device):
    x, y = np.ones((16, 6), "float32"), np.ones((16, 1), "float32")
    autotune(
        _build,
        x,
        y,
        candidates=[PrecisionChoice("float32", True)],
        batch_size=8,
        steps=2,
        timer=PolicyClock({"float32": 1.0}),
        cache=False,
        cache_dir=str(tmp_path),
    )
    assert list(tmp_path.iterdir()) == []


def test_architecture_signature_ignores_names_and_policy():
    first = architecture_signature(_build())
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        second = architecture_signature(_build())
    finally:
        keras.config.set_dtype_policy("float32")
    assert first == second
    assert architecture_signature(_build(width=4)) != first
    frozen = _build()
    frozen.layers[1].trainable = False
    assert architecture_signature(frozen) != first


def test_model_must_be_a_keras_model():
    with pytest.raises(
        TypeError, match="`model` must be a built keras.Model.*Received: model="
    ):
        select_precision("auto", model="resnet")


@pytest.mark.parametrize(
    "flags, expected",
    [
        ("fpu sse avx2 fma", ["avx2"]),
        ("avx2 avx512f avx512_bf16", ["avx2", "avx512f", "avx512_bf16"]),
        (
            "avx2 avx512f avx512_bf16 amx_bf16 amx_tile",
            ["avx2", "avx512f", "avx512_bf16", "amx"],
        ),
        ("neon asimd", []),
    ],
)
def test_describe_cpu_reads_model_and_extensions(tmp_path, flags, expected):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        f"processor\t: 0\nmodel name\t: Test CPU 9000\nflags\t\t: {flags}\n\n"
        "processor\t: 1\nmodel name\t: Test CPU 9000\nflags\t\t: fpu\n"
    )
    assert describe_cpu(str(cpuinfo)) == {
        "model": "Test CPU 9000",
        "extensions": expected,
    }
