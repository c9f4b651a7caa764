import keras
import numpy as np
import pytest

from keras_transfer.throughput import PrecisionChoice, autotune


def _builder(slow_policy):
    """A Dense model; under `slow_policy` it also runs a costly chain of matmuls."""

    def build():
        inputs = keras.Input((8,))
        hidden = keras.layers.Dense(8)(inputs)
        if keras.config.dtype_policy().name == slow_policy:
            big = keras.ops.ones((256, 256), dtype=hidden.dtype)
            cost = keras.layers.Lambda(
                lambda h: h
                + 0.0
                * keras.ops.sum(
                    keras.ops.stack([keras.ops.matmul(big, big) for _ in range(24)])
                )
            )
            hidden = cost(hidden)
        outputs = keras.layers.Dense(1, dtype="float32")(hidden)
        model = keras.Model(inputs, outputs)
        model.compile(optimizer="sgd", loss="mse")
        return model

    return build


@pytest.mark.parametrize("slow,fast", [("float32", "mixed_bfloat16"), ("mixed_bfloat16", "float32")])
def test_autotune_picks_the_candidate_without_the_costly_op(slow, fast):
    jit = keras.backend.backend() == "jax"
    candidates = [PrecisionChoice("float32", jit, 1), PrecisionChoice("mixed_bfloat16", jit, 1)]
    x = np.ones((32, 8), "float32")
    y = np.ones((32, 1), "float32")
    best, table = autotune(_builder(slow), x, y, candidates=candidates, batch_size=8, steps=4)
    assert best.policy == fast
    assert [row["policy"] for row in table] == [fast, slow]
    assert table[0]["images_per_sec"] > table[1]["images_per_sec"] > 0
    assert all(row["error"] is None for row in table)
    assert "autotune" in best.reason
    assert keras.config.dtype_policy().name == "float32"  # restored


def test_uncompiled_builder_uses_compile_kwargs_and_dict_candidates():
    def build():
        return keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])

    x, y = np.ones((16, 4), "float32"), np.ones((16, 1), "float32")
    best, table = autotune(
        build,
        x,
        y,
        compile_kwargs={"optimizer": keras.optimizers.SGD(0.1), "loss": "mse"},
        candidates=[{"policy": "float32", "jit_compile": True, "steps_per_execution": 2}],
        batch_size=8,
        steps=3,
    )
    assert (best.policy, best.steps_per_execution, best.jit_compile) == ("float32", 2, True)
    assert table[0]["effective_jit_compile"] is True


def test_errors():
    x, y = np.ones((8, 4), "float32"), np.ones((8, 1), "float32")
    with pytest.raises(TypeError, match="`build_model`"):
        autotune("model", x, y)
    with pytest.raises(ValueError, match="`steps`"):
        autotune(lambda: None, x, y, steps=0)
    with pytest.raises(TypeError, match="`candidates`"):
        autotune(lambda: None, x, y, candidates=["fast"])
    uncompiled = lambda: keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])  # noqa: E731
    with pytest.raises(RuntimeError, match="uncompiled model"):
        autotune(uncompiled, x, y, candidates=[PrecisionChoice("float32", False)])
