import pytest


@pytest.fixture(autouse=True)
def _autotune_cache_in_tmp(tmp_path, monkeypatch):
    """`autotune` caches its results: never in the user's ~/.cache during tests."""
    monkeypatch.setenv("KERAS_TRANSFER_CACHE", str(tmp_path / "cache"))
