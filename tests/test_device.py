"""Tests for `keras_transfer._device`'s backend check."""

from __future__ import annotations

import keras
import pytest

from keras_transfer._device import BACKENDS, backend_is, tensorflow_backend


def test_backend_is_answers_for_the_active_backend_only():
    active = keras.backend.backend()
    assert backend_is(active)
    assert backend_is("numpy", active)
    others = [name for name in BACKENDS if name != active]
    assert not backend_is(*others)
    assert tensorflow_backend() == (active == "tensorflow")


@pytest.mark.parametrize("names", [("pytorch",), ("jax", "tf"), ()])
def test_a_name_that_is_no_backend_raises(names):
    with pytest.raises(
        ValueError, match=r"`names` must be Keras backends.*Received: names="
    ):
        backend_is(*names)
