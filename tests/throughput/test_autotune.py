import keras
import numpy as np
import pytest
from _policy_clock import PolicyClock

from keras_transfer.throughput import PrecisionChoice, autotune


def _build():
    inputs = keras.Input((8,))
    outputs = keras.layers.Dense(1, dtype="float32")(keras.layers.Dense(8)(inputs))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="sgd", loss="mse")
    return model


@pytest.mark.parametrize(
    "slow,fast", [("float32", "mixed_bfloat16"), ("mixed_bfloat16", "float32")]
)
def test_autotune_picks_the_candidate_the_clock_says_is_faster(slow, fast):
    jit = keras.backend.backend() == "jax"
    candidates = [
        PrecisionChoice("float32", jit, 1),
        PrecisionChoice("mixed_bfloat16", jit, 1),
    ]
    x = np.ones((32, 8), "float32")
    y = np.ones((32, 1), "float32")
    clock = PolicyClock({slow: 2.0, fast: 0.5})
    best, table = autotune(
        _build, x, y, candidates=candidates, batch_size=8, steps=4, timer=clock
    )
    assert best.policy == fast
    assert [row["policy"] for row in table] == [fast, slow]
    # 4 steps x 8 images in 0.5 s and in 2 s; warm-up fits last one reading.
    assert [row["images_per_sec"] for row in table] == [64.0, 16.0]
    assert [row["compile_seconds"] for row in table] == [0.5, 2.0]
    assert all(row["error"] is None for row in table)
    assert "autotune" in best.reason and "4.00x the runner-up" in best.reason
    assert keras.config.dtype_policy().name == "float32"  # restored


def test_uncompiled_builder_uses_compile_kwargs_and_dict_candidates():
    def build():
        return keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])

    # Keras on torch runs one step per execution only (it refuses 2).
    spe = 1 if keras.backend.backend() == "torch" else 2
    x, y = np.ones((16, 4), "float32"), np.ones((16, 1), "float32")
    best, table = autotune(
        build,
        x,
        y,
        compile_kwargs={"optimizer": keras.optimizers.SGD(0.1), "loss": "mse"},
        candidates=[
            {"policy": "float32", "jit_compile": True, "steps_per_execution": spe}
        ],
        batch_size=8,
        steps=3,
    )
    assert (best.policy, best.steps_per_execution, best.jit_compile) == (
        "float32",
        spe,
        True,
    )
    assert table[0]["effective_jit_compile"] is True


def test_errors():
    x, y = np.ones((8, 4), "float32"), np.ones((8, 1), "float32")
    with pytest.raises(TypeError, match="`build_model`"):
        autotune("model", x, y)
    with pytest.raises(ValueError, match="`steps`"):
        autotune(lambda: None, x, y, steps=0)
    with pytest.raises(TypeError, match="`timer`.*Received: timer=3"):
        autotune(lambda: None, x, y, timer=3)
    with pytest.raises(TypeError, match="`candidates`"):
        autotune(lambda: None, x, y, candidates=["fast"])
    uncompiled = lambda: keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])  # noqa: E731
    with pytest.raises(RuntimeError, match="uncompiled model"):
        autotune(uncompiled, x, y, candidates=[PrecisionChoice("float32", False)])
