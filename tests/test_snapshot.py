"""Tests for `keras_transfer._snapshot`: variable values saved and put back exactly."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_transfer._snapshot import restore, snapshot


def test_restore_puts_back_the_exact_values_of_every_dtype():
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(2), keras.layers.BatchNormalization()]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.1), loss="mse")
    x = np.arange(12, dtype="float32").reshape(4, 3)
    model.fit(x, np.ones((4, 2)), epochs=1, verbose=0)
    variables = list(model.variables) + list(model.optimizer.variables)
    before = [keras.ops.convert_to_numpy(v).copy() for v in variables]
    saved = snapshot(variables)
    model.fit(x, np.zeros((4, 2)), epochs=2, verbose=0)  # moves weights, stats, step
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 3
    restore(variables, saved)
    for variable, value in zip(variables, before, strict=True):
        after = keras.ops.convert_to_numpy(variable)
        assert after.dtype == value.dtype
        np.testing.assert_array_equal(after, value)
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 1


def test_a_snapshot_shares_no_memory_with_the_variable():
    variable = keras.Variable(np.array([1.0, 2.0, 3.0], "float32"))
    (saved,) = snapshot([variable])
    variable.assign(np.array([7.0, 8.0, 9.0], "float32"))
    np.testing.assert_array_equal(saved, [1.0, 2.0, 3.0])
    saved[0] = 100.0
    restore([variable], [saved])
    saved[1] = 200.0
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(variable), [100.0, 2.0, 3.0]
    )


def test_snapshot_of_a_tensor_that_carries_gradients():
    variable = keras.Variable(np.array([[1.0, 2.0]], "float32"))
    (saved,) = snapshot([keras.ops.multiply(variable, 3.0)])
    np.testing.assert_array_equal(saved, [[3.0, 6.0]])


def test_restore_casts_to_the_variable_dtype():
    variable = keras.Variable(np.zeros(2, "float32"))
    restore([variable], [np.array([0.5, 1.25], "float64")])
    value = keras.ops.convert_to_numpy(variable)
    assert value.dtype == np.float32
    np.testing.assert_array_equal(value, [0.5, 1.25])


def test_restore_refuses_mismatched_lists_before_assigning():
    a = keras.Variable(np.zeros(2, "float32"))
    b = keras.Variable(np.zeros(2, "float32"))
    with pytest.raises(
        ValueError, match="one value per variable.*2 variables and 1 values"
    ):
        restore([a, b], [np.ones(2, "float32")])
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), [0.0, 0.0])
    with pytest.raises(ValueError, match="shape"):
        restore([a], [np.ones(3, "float32")])
