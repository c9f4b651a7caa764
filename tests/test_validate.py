"""Tests for `keras_transfer._validate`: the shared argument checks."""

from __future__ import annotations

import re

import pytest

from keras_transfer._validate import check_int


@pytest.mark.parametrize("value, low", [(1, 1), (5, 5), (7, 2), (0, 0), (-3, -3)])
def test_an_integer_at_or_above_low_is_returned(value, low):
    assert check_int("n", value, low) == value


@pytest.mark.parametrize("value", [0, -1, 4, 2.0, 10.5, True, False, "5", None, [5]])
def test_anything_else_raises_the_house_message(value):
    expected = f"`steps` must be an integer >= 5. Received: steps={value!r}"
    with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
        check_int("steps", value, 5)


def test_none_only_where_allowed():
    assert check_int("steps", None, 1, allow_none=True) is None
    with pytest.raises(
        ValueError,
        match=r"^`steps` must be an integer >= 1 or None\. Received: steps=0$",
    ):
        check_int("steps", 0, 1, allow_none=True)


def test_a_hint_follows_the_rule():
    with pytest.raises(
        ValueError,
        match=re.escape(
            "`total_steps` must be an integer >= 2 (epochs * steps per epoch). "
            "Received: total_steps=1"
        ),
    ):
        check_int("total_steps", 1, 2, hint="epochs * steps per epoch")
