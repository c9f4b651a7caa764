"""`image_folder`: a directory of class subfolders -> train / validation data."""

from __future__ import annotations

import warnings

import numpy as np

from keras_transfer.data._decode import decode_image
from keras_transfer.data._make_dataset import make_dataset
from keras_transfer.data.class_folders import class_folders, stratified_split

_EXAMPLES = 5


def _load(
    items: list, image_size: tuple, report: dict
) -> tuple[np.ndarray, np.ndarray]:
    images, labels = [], []
    for path, label in items:
        try:
            image, resized = decode_image(path, image_size)
        except Exception as error:  # any decoder failure: skip, count, name it
            report["skipped"] += 1
            if len(report["skipped_examples"]) < _EXAMPLES:
                reason = str(error).strip().splitlines()[0][:120] if str(error) else ""
                report["skipped_examples"].append(
                    f"{path}: {type(error).__name__} {reason}".strip()
                )
            continue
        report["resized"] += int(resized)
        images.append(image)
        labels.append(label)
    x = (
        np.stack(images).astype("float32")
        if images
        else np.zeros((0, *image_size, 3), "float32")
    )
    return x, np.asarray(labels, dtype="int32")


def image_folder(
    directory: str,
    *,
    image_size: tuple[int, int] = (224, 224),
    validation_split: float | None = None,
    validation_dir: str | None = None,
    batch_size: int = 32,
    seed: int = 0,
    augment: object = None,
    as_dataset: bool = True,
) -> tuple[object, object, dict]:
    """Loads a directory of class subfolders into training / validation data.

    Each subfolder of `directory` is a class (labels are the sorted folder
    names as integers 0..k-1). PNG, JPEG, BMP and GIF files are decoded to RGB
    and resized to `image_size` when their size differs. Unreadable or corrupt
    files are skipped, counted in the report (with up to 5 names and reasons)
    and warned about; never silently dropped. Images are held in memory as
    float32 0..255 (the backbone's own preprocessing decides the scaling).

    Args:
        directory: folder with one subfolder of images per class.
        image_size: `(height, width)` every image is resized to. Defaults to
            `(224, 224)`.
        validation_split: fraction in (0, 1) of each class held out for
            validation (stratified, shuffled with `seed`). Defaults to `None`.
        validation_dir: a separate folder with the same class subfolders,
            used for validation instead of a split. Defaults to `None`.
        batch_size: batch size of the returned datasets. Defaults to `32`.
        seed: seed of the split and the shuffle. Defaults to `0`.
        augment: Keras preprocessing layer(s) applied to training batches on
            the host (see `make_dataset`). Defaults to `None`.
        as_dataset: return `tf.data` pipelines (`make_dataset`: static
            training batches; validation keeps every sample, unshuffled); with
            `False` return `(x, y)` NumPy tuples. Defaults to `True`.

    Returns:
        `(train, validation, report)`: `validation` is `None` without a split
        or `validation_dir`. `report` has `"class_names"`, `"num_train"`,
        `"num_validation"`, `"skipped"`, `"skipped_examples"` and `"resized"`.

    Example:

    >>> import os, tempfile
    >>> import numpy as np
    >>> from PIL import Image
    >>> from keras_transfer.data import image_folder
    >>> root = tempfile.mkdtemp()
    >>> for label in ("cat", "dog"):
    ...     os.makedirs(os.path.join(root, label))
    ...     for i in range(4):
    ...         Image.fromarray(np.full((20, 20, 3), i, "uint8")).save(
    ...             os.path.join(root, label, f"{i}.png"))
    >>> train, val, report = image_folder(
    ...     root, image_size=(16, 16), validation_split=0.25, as_dataset=False)
    >>> train[0].shape, val[0].shape, report["class_names"], report["resized"]
    ((6, 16, 16, 3), (2, 16, 16, 3), ['cat', 'dog'], 8)
    """
    if (
        not isinstance(image_size, tuple | list)
        or len(image_size) != 2
        or not all(isinstance(v, int) and v > 0 for v in image_size)
    ):
        raise ValueError(
            "`image_size` must be (height, width) with positive integers. "
            f"Received: image_size={image_size!r}"
        )
    image_size = (int(image_size[0]), int(image_size[1]))
    if validation_split is not None and validation_dir is not None:
        raise ValueError(
            "Pass either `validation_split` or `validation_dir`, not both. "
            f"Received: validation_split={validation_split!r}, "
            f"validation_dir={validation_dir!r}"
        )
    if validation_split is not None and not 0 < validation_split < 1:
        raise ValueError(
            "`validation_split` must be a fraction strictly between 0 and 1, "
            f"e.g. 0.2. Received: validation_split={validation_split!r}"
        )
    classes = class_folders(directory, argument="directory")
    class_names = list(classes)
    if validation_split is not None:
        train_items, val_items = stratified_split(classes, validation_split, seed)
    else:
        train_items = [
            (path, label)
            for label, files in enumerate(classes.values())
            for path in files
        ]
        val_items = None
    if validation_dir is not None:
        val_classes = class_folders(
            validation_dir, argument="validation_dir", min_classes=1,
            class_names=class_names,
        )  # fmt: skip
        val_items = [
            (path, class_names.index(name))
            for name, files in val_classes.items()
            for path in files
        ]
    report = {
        "class_names": class_names,
        "num_train": 0,
        "num_validation": 0,
        "skipped": 0,
        "skipped_examples": [],
        "resized": 0,
    }
    x_train, y_train = _load(train_items, image_size, report)
    validation = None
    if val_items is not None:
        validation = _load(val_items, image_size, report)
        report["num_validation"] = len(validation[0])
    report["num_train"] = len(x_train)
    if report["skipped"]:
        warnings.warn(
            f"image_folder skipped {report['skipped']} unreadable image file(s), e.g. "
            f"{report['skipped_examples'][:2]}. HINT: delete or re-encode them; the "
            "full list of examples is in the returned report['skipped_examples'].",
            stacklevel=2,
        )
    if len(x_train) == 0:
        raise ValueError(
            f"`directory` has no readable training images: all {report['skipped']} "
            f"files failed to decode, e.g. {report['skipped_examples'][:2]}. "
            f"Received: directory={directory!r}"
        )
    if not as_dataset:
        return (x_train, y_train), validation, report
    if len(x_train) < batch_size:
        warnings.warn(
            f"Only {len(x_train)} training images for batch_size={batch_size}; "
            f"using batches of {len(x_train)}. HINT: pass a smaller `batch_size`.",
            stacklevel=2,
        )
    train = make_dataset(
        x_train,
        y_train,
        batch_size=min(batch_size, len(x_train)),
        training=True,
        seed=seed,
        augment=augment,
    )
    if validation is not None and len(validation[0]):
        validation = make_dataset(*validation, batch_size=batch_size, training=False)
    elif validation is not None:
        validation = None
    return train, validation, report
