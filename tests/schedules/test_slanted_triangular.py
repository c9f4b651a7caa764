"""SlantedTriangular: known values, bounds, use in an optimizer, config, saving."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_transfer.schedules import SlantedTriangular


def _lr(schedule, step):
    return float(keras.ops.convert_to_numpy(schedule(step)))


@pytest.mark.parametrize(
    "step, expected",
    [
        (0, 0.01 / 32),  # start: max / ratio
        (5, 0.01 * (1 + 0.5 * 31) / 32),  # halfway up
        (10, 0.01),  # cut = floor(100 * 0.1): the peak
        (55, 0.01 * (1 + 0.5 * 31) / 32),  # halfway down
        (100, 0.01 / 32),  # end: max / ratio again
        (250, 0.01 / 32),  # constant after the end
    ],
)
def test_ulmfit_defaults_known_values(step, expected):
    schedule = SlantedTriangular(0.01, total_steps=100)
    assert _lr(schedule, step) == pytest.approx(expected, rel=1e-6)


def test_custom_cut_frac_and_ratio():
    schedule = SlantedTriangular(1.0, total_steps=20, cut_frac=0.25, ratio=4)
    assert schedule.cut == 5
    values = [_lr(schedule, t) for t in range(21)]
    assert values[0] == pytest.approx(0.25) and values[5] == pytest.approx(1.0)
    assert values[20] == pytest.approx(0.25)
    assert np.all(np.diff(values[:6]) > 0) and np.all(np.diff(values[5:]) < 0)


def test_cut_is_at_least_one_step():
    schedule = SlantedTriangular(0.1, total_steps=5)  # 5 * 0.1 < 1
    assert schedule.cut == 1
    assert _lr(schedule, 1) == pytest.approx(0.1)
    assert _lr(schedule, 5) == pytest.approx(0.1 / 32)


def test_drives_an_optimizer_inside_fit():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    schedule = SlantedTriangular(0.01, total_steps=10)
    model.compile(keras.optimizers.SGD(schedule), "mse")
    x = np.ones((16, 2), "float32")
    model.fit(x, x[:, :1], batch_size=4, epochs=1, verbose=0)  # 4 steps
    lr = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    assert lr == pytest.approx(_lr(schedule, 4), rel=1e-6)
    assert lr == pytest.approx(0.01 * (1 + (1 - 3 / 9) * 31) / 32, rel=1e-6)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"max_learning_rate": 0.0},
            r"`max_learning_rate`.*Received: max_learning_rate=0.0",
        ),
        ({"total_steps": 1}, r"`total_steps`.*Received: total_steps=1"),
        ({"total_steps": 10.5}, r"`total_steps`.*Received: total_steps=10.5"),
        ({"cut_frac": 1.0}, r"`cut_frac`.*Received: cut_frac=1.0"),
        ({"ratio": 0.5}, r"`ratio`.*Received: ratio=0.5"),
    ],
)
def test_bad_arguments(kwargs, message):
    args = {"max_learning_rate": 0.01, "total_steps": 100, **kwargs}
    with pytest.raises(ValueError, match=message):
        SlantedTriangular(**args)


def test_config(config_round_trip):
    restored = config_round_trip(
        SlantedTriangular(0.02, 50, cut_frac=0.2, ratio=8, name="stlr")
    )
    assert _lr(restored, 10) == pytest.approx(0.02)


def test_saved_inside_a_compiled_model(tmp_path):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(SlantedTriangular(0.01, 40)), "mse")
    x = np.ones((8, 2), "float32")
    model.fit(x, x[:, :1], batch_size=4, epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    config = loaded.optimizer.get_config()["learning_rate"]
    restored = keras.saving.deserialize_keras_object(config)
    assert isinstance(restored, SlantedTriangular) and restored.total_steps == 40
    assert int(keras.ops.convert_to_numpy(loaded.optimizer.iterations)) == 2
    # The live rate follows the schedule at step 2: halfway up to the cut (4).
    lr = float(keras.ops.convert_to_numpy(loaded.optimizer.learning_rate))
    assert lr == pytest.approx(0.01 * (1 + 0.5 * 31) / 32, rel=1e-6)
    assert lr == pytest.approx(_lr(restored, 2), rel=1e-6)
