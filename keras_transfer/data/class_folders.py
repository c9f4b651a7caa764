"""Folders of class subfolders: list the images, check the layout, split them.

The one reading of the "one subfolder per class" layout, shared by
`image_folder` and the `keras-transfer` commands (`fit`, `predict`,
`evaluate`), so that every path finds the same classes, in the same order,
and the same files.
"""

from __future__ import annotations

import os

import numpy as np

from keras_transfer.data._decode import IMAGE_EXTENSIONS


def list_images(path: str) -> list[str]:
    """`path` itself if it is a file, else the image files under it, sorted.

    Example:

    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> for name in ("b.png", "a.jpg", "notes.txt"):
    ...     open(os.path.join(folder, name), "w").close()
    >>> [os.path.basename(p) for p in list_images(folder)]
    ['a.jpg', 'b.png']
    """
    if os.path.isfile(path):
        return [path]
    return sorted(
        os.path.join(root, name)
        for root, _, names in os.walk(path)
        for name in names
        if name.lower().endswith(IMAGE_EXTENSIONS)
    )


def class_folders(
    directory: str,
    *,
    argument: str = "directory",
    min_classes: int = 2,
    class_names: list[str] | None = None,
) -> dict[str, list[str]]:
    """`{class name: [image files]}` of a folder of class subfolders.

    Class names are the subfolder names, sorted; files are searched
    recursively (PNG, JPEG, BMP, GIF). Subfolders without images are not
    classes.

    Args:
        directory: the folder.
        argument: the name the error messages use for `directory`. Defaults
            to `"directory"`.
        min_classes: fewest classes accepted. Defaults to `2` (a classifier).
        class_names: the known classes (of a training folder or a model);
            when given, every class found must be one of them. Defaults to
            `None`.

    Returns:
        A dict in class-name order.

    Raises:
        ValueError: `directory` is missing, has no class subfolder with
            images, fewer than `min_classes`, or a class not in
            `class_names`.

    Example:

    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> for name in ("dogs/1.png", "cats/1.png", "cats/2.png"):
    ...     os.makedirs(os.path.dirname(os.path.join(folder, name)), exist_ok=True)
    ...     open(os.path.join(folder, name), "w").close()
    >>> {name: len(files) for name, files in class_folders(folder).items()}
    {'cats': 2, 'dogs': 1}
    """
    if not os.path.isdir(directory):
        raise ValueError(
            f"`{argument}` must be an existing directory with one subfolder of "
            "images per class (e.g. data/cats/*.png, data/dogs/*.png). "
            f"Received: {argument}={directory!r} (no such directory)"
        )
    classes, loose = {}, 0
    for entry in sorted(os.listdir(directory)):
        path = os.path.join(directory, entry)
        if os.path.isdir(path):
            if files := list_images(path):
                classes[entry] = files
        elif entry.lower().endswith(IMAGE_EXTENSIONS):
            loose += 1
    if not classes:
        found = f" ({loose} images lie directly in it)" if loose else ""
        raise ValueError(
            f"`{argument}` contains no class subfolders with images "
            f"({', '.join(IMAGE_EXTENSIONS)}){found}. Put each class's images in "
            f"its own subfolder, e.g. {directory}/cats/1.png. "
            f"Received: {argument}={directory!r}"
        )
    if len(classes) < min_classes:
        raise ValueError(
            f"`{argument}` must contain at least {min_classes} class subfolders with "
            f"images to train a classifier; found only {list(classes)}. Add a "
            f"subfolder per class. Received: {argument}={directory!r}"
        )
    if class_names is not None:
        unknown = sorted(set(classes) - set(class_names))
        if unknown:
            raise ValueError(
                f"`{argument}` has class folders that the training classes lack: "
                f"{unknown}. Use the same class subfolders ({list(class_names)}). "
                f"Received: {argument}={directory!r}"
            )
    return classes


def stratified_split(classes: dict, fraction: float, seed: int) -> tuple[list, list]:
    """Stratified `(train, validation)` lists of `(path, label)`.

    Each class's files are shuffled with `seed`; `round(fraction * n)` of them
    (at least 1, and never all) go to validation; a class with one file keeps
    it for training. Labels are positions in `classes`.

    Example:

    >>> train, val = stratified_split({"a": ["a1", "a2", "a3", "a4"], "b": ["b1"]}, 0.25, 0)
    >>> len(train), len(val), sorted(label for _, label in val)
    (4, 1, [0])
    """
    rng = np.random.default_rng(seed)
    train, validation = [], []
    for label, files in enumerate(classes.values()):
        files = [files[i] for i in rng.permutation(len(files))]
        n_val = int(round(len(files) * fraction)) if len(files) > 1 else 0
        n_val = min(max(n_val, 1 if len(files) > 1 else 0), len(files) - 1)
        validation += [(path, label) for path in files[:n_val]]
        train += [(path, label) for path in files[n_val:]]
    return train, validation
