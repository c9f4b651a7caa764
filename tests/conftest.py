"""Shared fixtures and gates for the keras-transfer suite.

- `config_round_trip`: the check every serializable public class must pass.
- `--run-slow` / `-m slow`: slow tests run when asked (CI asks).
- `gpu` marker: skipped unless a GPU is visible to the active backend.
- `tensorflow_only` marker: skipped, with the reason, on other backends.
- On torch, `torch.compile` (what `jit_compile=True` means there) uses the
  `aot_eager` backend: graph capture without inductor's C++ builds.
"""

from __future__ import annotations

import os

import keras
import pytest

if keras.backend.backend() == "torch":
    # On torch, `jit_compile=True` means `torch.compile`, whose default
    # inductor backend generates and builds C++ for every graph: minutes per
    # test on 2 cores. The suite compiles with `aot_eager` instead: the same
    # dynamo capture and AOTAutograd graphs (where a layer's semantics could
    # break under compilation), executed by eager kernels.
    import functools

    import torch

    _torch_compile = torch.compile

    @functools.wraps(_torch_compile)
    def _compile_aot_eager(*args, **kwargs):
        kwargs.setdefault("backend", "aot_eager")
        return _torch_compile(*args, **kwargs)

    torch.compile = _compile_aot_eager


def pytest_addoption(parser):
    parser.addoption(
        "--run-slow",
        action="store_true",
        default=os.environ.get("CI", "").lower() in ("1", "true"),
        help="run tests marked slow (default on when CI=true)",
    )


def _gpu_visible() -> bool:
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU"))
    if backend == "jax":
        import jax

        return any(d.platform == "gpu" for d in jax.devices())
    return False


def pytest_collection_modifyitems(config, items):
    run_slow = config.getoption("--run-slow")
    has_gpu = None
    for item in items:
        if "slow" in item.keywords and not run_slow:
            item.add_marker(pytest.mark.skip(reason="slow: pass --run-slow (CI does)"))
        if (
            "tensorflow_only" in item.keywords
            and keras.backend.backend() != "tensorflow"
        ):
            item.add_marker(
                pytest.mark.skip(
                    reason=f"needs the TensorFlow backend (SavedModels/tf.data); "
                    f"running on {keras.backend.backend()}"
                )
            )
        if "gpu" in item.keywords:
            if has_gpu is None:
                has_gpu = _gpu_visible()
            if not has_gpu:
                item.add_marker(pytest.mark.skip(reason="needs a GPU; none visible"))


@pytest.fixture(autouse=True)
def _clean_keras_state():
    """Each test starts with float32, a fresh name scope and a fixed seed."""
    keras.config.set_dtype_policy("float32")
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    yield
    keras.config.set_dtype_policy("float32")


@pytest.fixture(autouse=True)
def _private_cache(monkeypatch, tmp_path_factory):
    """keras-transfer's cache (autotune results, exported SavedModels) in a
    fresh folder per test: never the user's ~/.cache, never another test's,
    also when tests run in parallel processes."""
    monkeypatch.setenv("KERAS_TRANSFER_CACHE", str(tmp_path_factory.mktemp("cache")))


def _assert_config_round_trip(obj):
    """Asserts that `obj` survives `get_config` and Keras (de)serialization.

    Checks `get_config -> from_config -> get_config` gives an equal config and
    that `keras.saving.serialize_keras_object` / `deserialize_keras_object`
    gives back an object of the same class with the same config. Returns the
    object rebuilt by `deserialize_keras_object` for further checks.
    """
    config = obj.get_config()
    rebuilt = type(obj).from_config(config)
    assert rebuilt.get_config() == config
    serialized = keras.saving.serialize_keras_object(obj)
    assert serialized["registered_name"].startswith("keras_transfer>"), serialized
    restored = keras.saving.deserialize_keras_object(serialized)
    assert type(restored) is type(obj)
    assert restored.get_config() == config
    return restored


@pytest.fixture
def config_round_trip():
    """The shared config round-trip check (see `_assert_config_round_trip`)."""
    return _assert_config_round_trip
