import os

import numpy as np
import pytest
from PIL import Image

from keras_transfer.data import image_folder


def _write(root, label, name, value, size=(16, 16)):
    os.makedirs(os.path.join(root, label), exist_ok=True)
    image = np.full((*size, 3), value, dtype="uint8")
    Image.fromarray(image).save(os.path.join(root, label, name))


@pytest.fixture
def folder(tmp_path):
    root = str(tmp_path / "data")
    for i in range(5):
        _write(root, "cats", f"c{i}.png", 10 + i)
        _write(
            root, "dogs", f"d{i}.png", 100 + i, size=(24, 20) if i == 0 else (16, 16)
        )
    with open(os.path.join(root, "dogs", "broken.png"), "wb") as handle:
        handle.write(b"\x89PNG\r\n\x1a\n not really a png")
    with open(os.path.join(root, "dogs", "notes.txt"), "w") as handle:
        handle.write("not an image, ignored")
    return root


def test_arrays_labels_resize_and_corrupt_file_report(folder):
    with pytest.warns(UserWarning, match="skipped 1 unreadable") as record:
        (x, y), validation, report = image_folder(
            folder, image_size=(16, 16), as_dataset=False
        )
    assert "HINT" in str(record[0].message)
    assert validation is None
    assert x.shape == (10, 16, 16, 3) and x.dtype == np.float32
    assert y.tolist() == [0] * 5 + [1] * 5
    assert report["class_names"] == ["cats", "dogs"]
    assert report["skipped"] == 1
    assert report["skipped_examples"][0].startswith(
        os.path.join(folder, "dogs", "broken.png")
    )
    assert report["resized"] == 1
    assert (report["num_train"], report["num_validation"]) == (10, 0)
    # pixel values survive decoding exactly (uniform images)
    assert sorted(set(x[:, 0, 0, 0].tolist())) == [
        10,
        11,
        12,
        13,
        14,
        100,
        101,
        102,
        103,
        104,
    ]


def test_validation_split_is_stratified_and_seeded(folder):
    with pytest.warns(UserWarning):
        (x, y), (xv, yv), report = image_folder(
            folder, image_size=(8, 8), validation_split=0.4, as_dataset=False, seed=1
        )
    assert sorted(yv.tolist()) == [0, 0, 1, 1]
    assert len(y) == 6 and (report["num_train"], report["num_validation"]) == (6, 4)
    train_values = set(x[:, 0, 0, 0].tolist())
    assert not train_values & set(xv[:, 0, 0, 0].tolist())
    with pytest.warns(UserWarning):
        again = image_folder(
            folder, image_size=(8, 8), validation_split=0.4, as_dataset=False, seed=1
        )
    np.testing.assert_array_equal(again[1][0], xv)


def test_datasets_and_separate_validation_dir(folder, tmp_path):
    val_root = str(tmp_path / "val")
    _write(val_root, "dogs", "v.png", 200)
    _write(val_root, "cats", "w.png", 50)
    with pytest.warns(UserWarning):
        train, validation, report = image_folder(
            folder, image_size=(16, 16), validation_dir=val_root, batch_size=4
        )
    shapes = [tuple(np.asarray(xb).shape) for xb, _ in train]
    assert shapes == [(4, 16, 16, 3), (4, 16, 16, 3)]  # 10 images, ragged batch dropped
    val = [(np.asarray(xb), np.asarray(yb)) for xb, yb in validation]
    assert val[0][1].tolist() == [0, 1]  # labels follow the training class order
    assert val[0][0][:, 0, 0, 0].tolist() == [50, 200]
    assert report["num_validation"] == 2


@pytest.mark.parametrize(
    "setup,kwargs,match",
    [
        ("missing", {}, "no such directory"),
        ("empty", {}, "no class subfolders"),
        ("loose", {}, "lie directly in it"),
        ("single", {}, "at least 2 class subfolders"),
        ("ok", {"validation_split": 1.5}, "`validation_split`"),
        ("ok", {"image_size": (0, 4)}, "`image_size`"),
        ("ok", {"validation_split": 0.2, "validation_dir": "x"}, "not both"),
    ],
)
def test_clear_errors(tmp_path, setup, kwargs, match):
    root = str(tmp_path / "d")
    if setup != "missing":
        os.makedirs(root)
    if setup == "loose":
        Image.fromarray(np.zeros((4, 4, 3), "uint8")).save(os.path.join(root, "a.png"))
    if setup == "single":
        _write(root, "only", "a.png", 1)
    if setup == "ok":
        _write(root, "a", "a.png", 1)
        _write(root, "b", "b.png", 2)
    with pytest.raises(ValueError, match=match) as info:
        image_folder(root, **kwargs)
    assert "Received:" in str(info.value)


def test_all_files_corrupt_is_an_error(tmp_path):
    root = str(tmp_path / "bad")
    for label in ("a", "b"):
        os.makedirs(os.path.join(root, label))
        with open(os.path.join(root, label, "x.jpg"), "wb") as handle:
            handle.write(b"garbage")
    with (
        pytest.warns(UserWarning),
        pytest.raises(ValueError, match="no readable training images"),
    ):
        image_folder(root)
