import keras
import pytest

from keras_transfer.throughput import (
    PrecisionChoice,
    effective_settings,
    select_precision,
)
from keras_transfer.throughput import _select_precision as select_precision_module
from keras_transfer.throughput._select_precision import _auto_jit, _auto_policy


@pytest.mark.parametrize(
    "kind,capability,policy",
    [
        ("gpu", (9, 0), "mixed_bfloat16"),
        ("gpu", (8, 0), "mixed_bfloat16"),
        ("gpu", (7, 5), "mixed_float16"),
        ("gpu", (7, 0), "mixed_float16"),
        ("gpu", (6, 1), "float32"),
        ("gpu", None, "float32"),
        ("cpu", None, "float32"),
        ("tpu", None, "mixed_bfloat16"),
    ],
)
def test_auto_policy_per_device(kind, capability, policy):
    chosen, reason = _auto_policy({"kind": kind, "compute_capability": capability})
    assert chosen == policy
    assert reason


@pytest.mark.parametrize(
    "kind,backend,jit",
    [("cpu", "tensorflow", False), ("cpu", "jax", True), ("gpu", "tensorflow", True)],
)
def test_auto_jit_per_device(kind, backend, jit):
    assert _auto_jit({"kind": kind}, backend)[0] is jit


def _stub_device(monkeypatch, kind, name, capability=None):
    device = {
        "kind": kind,
        "name": name,
        "compute_capability": capability,
        "cpu_count": 2,
        "backend": keras.backend.backend(),
    }
    monkeypatch.setattr(select_precision_module, "describe_device", lambda: device)


def test_auto_on_a_cpu_is_the_measured_default(monkeypatch):
    _stub_device(monkeypatch, "cpu", "Stub CPU")
    choice = select_precision()
    assert choice.policy == "float32"
    assert choice.jit_compile is (keras.backend.backend() == "jax")
    assert choice.steps_per_execution == 1
    assert choice.device == f"cpu: Stub CPU ({keras.backend.backend()} backend)"
    assert "measured" in choice.reason


def test_auto_on_an_ampere_gpu_is_bfloat16_with_xla(monkeypatch):
    _stub_device(monkeypatch, "gpu", "NVIDIA H200", (9, 0))
    choice = select_precision()
    assert choice.policy == "mixed_bfloat16"
    assert choice.jit_compile is (keras.backend.backend() != "torch")
    assert choice.device == f"gpu: NVIDIA H200 ({keras.backend.backend()} backend)"
    assert "compute capability 9.0" in choice.reason


@pytest.mark.parametrize("policy", ["float32", "mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("jit", [True, False])
def test_explicit_choice(policy, jit):
    choice = select_precision(policy, jit_compile=jit, steps_per_execution=4)
    assert (choice.policy, choice.jit_compile, choice.steps_per_execution) == (
        policy,
        jit,
        4,
    )
    assert choice.compile_kwargs() == {"jit_compile": jit, "steps_per_execution": 4}
    assert choice.loss_scaling is (policy == "mixed_float16")
    assert "explicit" in choice.reason
    assert choice.to_dict()["policy"] == policy


@pytest.mark.parametrize(
    "kwargs,argument",
    [
        ({"precision": "float16"}, "`precision`"),
        ({"jit_compile": "yes"}, "`jit_compile`"),
        ({"steps_per_execution": 0}, "`steps_per_execution`"),
        ({"steps_per_execution": 1.5}, "`steps_per_execution`"),
    ],
)
def test_invalid_arguments(kwargs, argument):
    with pytest.raises(ValueError, match=argument) as info:
        select_precision(**kwargs)
    assert "Received:" in str(info.value)


def test_apply_sets_policy_and_mixed_float16_gets_loss_scaling():
    choice = select_precision("mixed_float16", jit_compile=False).apply()
    assert keras.config.dtype_policy().name == "mixed_float16"
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(4),
            keras.layers.Dense(1, dtype="float32"),
        ]
    )
    model.compile(optimizer="sgd", loss="mse", **choice.compile_kwargs())
    settings = effective_settings(model, expected=choice)
    assert settings["loss_scaling"] is True
    assert settings["policy"] == "mixed_float16"
    assert settings["output_dtypes"] == ["float32"]
    assert settings["problems"] == []


def test_precision_choice_is_frozen():
    choice = PrecisionChoice("float32", False)
    with pytest.raises(AttributeError):
        choice.policy = "mixed_bfloat16"
