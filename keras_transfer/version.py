"""The package version, read by `pyproject.toml` and `keras_transfer.__version__`."""

__version__ = "0.1.0"
