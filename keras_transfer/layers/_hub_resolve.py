"""Turn a `HubBackbone` handle into a local SavedModel directory.

A handle is a local SavedModel directory, a local `.tar.gz`/`.tgz`/`.tar` of
one, or a remote URL (tfhub.dev, Kaggle, any http(s) URL of a tarball)
resolved through `tensorflow_hub`, which downloads into `TFHUB_CACHE_DIR` and
reuses what is already there. Every failure names the handle and says what to
do instead.

Saved handles can be relocated (`relocated` contexts, or the
`KERAS_TRANSFER_HUB_HANDLES` environment variable) so that a `.keras` file
loads after its SavedModel has moved.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.parse

_REMOTE_PREFIXES = ("http://", "https://", "gs://")
_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")
_SAVEDMODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")
HANDLES_ENV = "KERAS_TRANSFER_HUB_HANDLES"
_RELOCATIONS: list[dict] = []  # Open `relocated` contexts, innermost last.


def is_remote(handle: str) -> bool:
    """Whether `handle` is a URL that `tensorflow_hub` has to resolve."""
    return handle.lower().startswith(_REMOTE_PREFIXES)


def cache_dir() -> str:
    """The directory where archives are unpacked (`TFHUB_CACHE_DIR` if set)."""
    root = os.environ.get("TFHUB_CACHE_DIR")
    if not root:
        root = os.path.join(tempfile.gettempdir(), "tfhub_modules")
    return root


@contextlib.contextmanager
def relocated(handles: dict) -> object:
    """Within the context, `relocate` maps the handles (or folders) of `handles`."""
    if not isinstance(handles, dict) or not all(
        isinstance(k, (str, os.PathLike)) and isinstance(v, (str, os.PathLike))
        for k, v in handles.items()
    ):
        raise TypeError(
            "`handles` must be a dict {old handle or folder: new handle or "
            "folder} of strings. "
            f"Received: handles={handles!r}"
        )
    _RELOCATIONS.append({os.fspath(k): os.fspath(v) for k, v in handles.items()})
    try:
        yield
    finally:
        _RELOCATIONS.pop()


def relocate(handle: str) -> str:
    """`handle` with its longest mapped prefix replaced (contexts, then env var)."""
    for mapping in [*reversed(_RELOCATIONS), _env_relocations()]:
        for old in sorted(mapping, key=len, reverse=True):
            stem = old.rstrip("/")
            if stem and (handle.rstrip("/") == stem or handle.startswith(stem + "/")):
                return mapping[old].rstrip("/") + handle.rstrip("/")[len(stem) :]
    return handle


def _env_relocations() -> dict:
    text = os.environ.get(HANDLES_ENV, "").strip()
    if not text:
        return {}
    try:
        mapping = json.loads(text)
    except ValueError:
        mapping = None
    if not isinstance(mapping, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()
    ):
        raise ValueError(
            f"The environment variable {HANDLES_ENV} must be a JSON object "
            '{"old handle or folder": "new handle or folder"}. '
            f"Received: {HANDLES_ENV}={text!r}"
        )
    return mapping


def check_saved_handle(handle: object, layer_name: object) -> None:
    """Raises a relocation hint when a saved local handle no longer exists."""
    if not isinstance(handle, str) or is_remote(handle):
        return
    moved = relocate(handle)
    if os.path.exists(os.path.abspath(os.path.expanduser(moved))):
        return
    where = f" (relocated to {moved!r})" if moved != handle else ""
    context = repr({handle: "/new/path"})
    env = json.dumps({handle: "/new/path"})
    raise ValueError(
        f"The saved HubBackbone {layer_name!r} cannot be loaded: its `handle` "
        f"{handle!r}{where} no longer exists. The .keras file holds the layer's "
        "weights, not its SavedModel, which is opened again at load time. Put "
        "the SavedModel back at that path, or pass its new path: load inside "
        f"`with keras_transfer.layers.HubBackbone.relocated({context}):` or set "
        f"the environment variable {HANDLES_ENV}='{env}' (a folder above the "
        f"handle works too). Received: handle={handle!r}"
    )


def resolve_handle(handle: str) -> str:
    """Returns the local SavedModel directory that `handle` names.

    Args:
        handle: a local directory, a local tarball, or a remote URL.

    Returns:
        A directory that holds `saved_model.pb`.

    Raises:
        ValueError: the handle does not exist or is not a SavedModel.
        ImportError: a remote handle without `tensorflow_hub` installed.
        ConnectionError: a remote handle that cannot be reached (offline).
    """
    if is_remote(handle):
        return _find_savedmodel(_resolve_remote(handle), handle)
    path = os.path.abspath(os.path.expanduser(handle))
    if not os.path.exists(path):
        raise ValueError(
            f"`handle` does not exist: {handle!r} (looked for {path!r}). Expected "
            "a SavedModel directory, a .tar.gz of one, or a URL such as "
            "https://tfhub.dev/... or https://www.kaggle.com/models/.... Check "
            f"the path. Received: handle={handle!r}"
        )
    if os.path.isfile(path):
        if path.lower().endswith(_ARCHIVE_SUFFIXES):
            return _find_savedmodel(_unpack_local_archive(path), handle)
        raise ValueError(
            f"`handle` is a file, not a SavedModel directory or a "
            f"{'/'.join(_ARCHIVE_SUFFIXES)} archive of one. Pass the directory "
            f"that holds saved_model.pb. Received: handle={handle!r}"
        )
    return _find_savedmodel(path, handle)


def _find_savedmodel(directory: str, handle: str) -> str:
    """`directory` itself, or its only subdirectory, if it holds a SavedModel."""
    if _is_savedmodel(directory):
        return directory
    entries = sorted(os.listdir(directory))
    subdirs = [e for e in entries if os.path.isdir(os.path.join(directory, e))]
    if len(subdirs) == 1 and len(entries) == 1:
        inner = os.path.join(directory, subdirs[0])
        if _is_savedmodel(inner):
            return inner
    shown = ", ".join(entries[:10]) + (", ..." if len(entries) > 10 else "")
    raise ValueError(
        f"`handle` is not a SavedModel: {directory!r} has no saved_model.pb "
        f"(it contains: {shown or 'nothing'}). Pass the directory written by "
        "`tf.saved_model.save`, `model.export()` or `export_reusable_savedmodel`. "
        f"Received: handle={handle!r}"
    )


def _is_savedmodel(directory: str) -> bool:
    return any(os.path.isfile(os.path.join(directory, f)) for f in _SAVEDMODEL_FILES)


def _unpack_local_archive(path: str) -> str:
    """Unpacks `path` once into the cache; later calls reuse the copy."""
    stat = os.stat(path)
    key = f"{path}|{stat.st_size}|{stat.st_mtime_ns}".encode()
    target = os.path.join(cache_dir(), "local_" + hashlib.sha1(key).hexdigest())
    if os.path.isdir(target):
        return target
    os.makedirs(cache_dir(), exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".unpacking_", dir=cache_dir())
    try:
        with tarfile.open(path) as archive:
            archive.extractall(staging, filter="data")
        try:
            os.replace(staging, target)
        except OSError:  # Another process unpacked it first.
            if not os.path.isdir(target):
                raise
    except (tarfile.TarError, OSError) as error:
        raise ValueError(
            f"`handle` could not be unpacked as a tar archive: {error}. Pass a "
            ".tar.gz made with `tar -czf model.tar.gz -C saved_model_dir .` or the "
            f"SavedModel directory itself. Received: handle={path!r}"
        ) from error
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _resolve_remote(handle: str) -> str:
    try:
        import tensorflow_hub as hub
    except ImportError as error:
        raise ImportError(
            "Resolving a remote `handle` needs tensorflow-hub: "
            "`pip install 'keras-transfer[tfhub]'`. Or download the model and "
            "pass the local directory or .tar.gz as `handle`. "
            f"Received: handle={handle!r}"
        ) from error
    try:
        return hub.resolve(handle)
    except urllib.error.HTTPError as error:
        raise ValueError(
            f"`handle` was not found: the server answered HTTP {error.code} "
            f"({error.reason}). Check the URL (model name and version). "
            f"Received: handle={handle!r}"
        ) from error
    except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
        host = urllib.parse.urlparse(handle).netloc or handle
        reason = getattr(error, "reason", error)
        raise ConnectionError(
            f"Could not download `handle`: this machine is offline or cannot "
            f"reach {host} ({reason}). To use a local copy, download the model "
            "on a machine with network access (tfhub.dev / Kaggle offer a "
            ".tar.gz), copy it here and pass the .tar.gz or its unpacked "
            "directory as `handle`; or copy a TFHUB_CACHE_DIR filled on such a "
            "machine and set TFHUB_CACHE_DIR to it (current cache: "
            f"{cache_dir()!r}). Received: handle={handle!r}"
        ) from error
