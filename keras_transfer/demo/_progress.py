"""Progress lines of a demo run, on stderr (stdout is kept for the results)."""

from __future__ import annotations

import sys


def say(message: str) -> None:
    """Prints a progress line on stderr."""
    print(message, file=sys.stderr, flush=True)
