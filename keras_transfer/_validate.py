"""Private: the argument checks every public function of keras-transfer shares.

One message per kind of check, in the house style (the argument in
backticks, what was expected, "Received: name=value"), so that the same
mistake reads the same wherever it is made.
"""

from __future__ import annotations


def check_int(
    name: str,
    value: object,
    low: int,
    *,
    allow_none: bool = False,
    hint: str | None = None,
) -> int | None:
    """Returns `value` if it is an integer >= `low`, else raises `ValueError`.

    `bool` is refused (`True` is an `int` in Python, never a count).

    Args:
        name: the argument's name, as the caller spells it.
        value: what the caller passed.
        low: the smallest value allowed.
        allow_none: whether `None` is allowed (and returned). Defaults to
            `False`.
        hint: what the number means, added in parentheses after the rule
            (e.g. `"epochs * steps per epoch"`). Defaults to `None`.

    Returns:
        `value`, unchanged.

    Raises:
        ValueError: "`name` must be an integer >= low. Received: name=value".

    Example:

    >>> check_int("steps", 5, 1)
    5
    >>> check_int("rank", 0, 1)
    Traceback (most recent call last):
    ...
    ValueError: `rank` must be an integer >= 1. Received: rank=0
    """
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        rule = f"an integer >= {low}" + (" or None" if allow_none else "")
        if hint:
            rule += f" ({hint})"
        raise ValueError(f"`{name}` must be {rule}. Received: {name}={value!r}")
    return value
