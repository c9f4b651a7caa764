"""Fixtures for the layer tests: SavedModels built once per session, on demand."""

from __future__ import annotations

import os

import pytest


class _SavedModels:
    """`savedmodel("half_plus_one")` builds (once) and returns what the builder returns."""

    def __init__(self, root):
        self.root = root
        self.built = {}

    def __call__(self, builder: str):
        if builder not in self.built:
            import _savedmodels

            self.built[builder] = getattr(_savedmodels, builder)(
                os.path.join(self.root, builder)
            )
        return self.built[builder]


@pytest.fixture(scope="session")
def savedmodel(tmp_path_factory):
    """Builds the SavedModels of `tests/layers/_savedmodels.py` on first use."""
    return _SavedModels(str(tmp_path_factory.mktemp("savedmodels")))
