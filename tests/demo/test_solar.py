"""The demo's solar task: elpv data, the paper's split, the backbones."""

import numpy as np

from keras_transfer.demo import solar
from keras_transfer.demo.config import SOLAR, DemoConfig


def test_elpv_cells_and_the_papers_75_25_split():
    images, labels, mono = solar.load_cells()
    assert images.shape == (2624, 300, 300) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [1508, 295, 106, 715]
    assert int(mono.sum()) == 1074
    pool, test = solar.split_75_25(labels, mono)
    assert (len(pool), len(test)) == (1968, 656)  # Deitsch et al. 2019
    assert not set(pool) & set(test)
    np.testing.assert_array_equal(test, solar.split_75_25(labels, mono)[1])
    for c in range(4):  # a quarter of every (class, cell type) stratum
        for kind in (True, False):
            stratum = np.flatnonzero((labels == c) & (mono == kind))
            assert abs(np.isin(stratum, test).sum() - 0.25 * len(stratum)) < 1


def test_split_and_subsample_on_known_strata():
    labels = np.repeat([0, 1, 2, 3], [40, 20, 8, 12])
    mono = np.tile([True, False], 40)
    pool, test = solar.split_75_25(labels, mono)
    assert np.bincount(labels[test]).tolist() == [10, 6, 2, 2]  # ties: lower stratum
    assert len(pool) == 60
    few = solar.subsample(test, labels, 10)
    assert set(few) <= set(test)
    assert np.bincount(labels[few], minlength=4).tolist() == [5, 3, 1, 1]
    assert solar.subsample(test, labels, 100) is test


def test_to_rgb_resizes_greyscale_to_rgb_0_255():
    cells = np.zeros((2, 300, 300), np.uint8)
    cells[1] = 255
    rgb = solar.to_rgb(cells, 32)
    assert rgb.shape == (2, 32, 32, 3) and rgb.dtype == np.float32
    assert rgb[0].max() == 0.0 and rgb[1].min() == 255.0


def test_backbones_pretrained_and_scratch():
    from keras_transfer.applications import EfficientNetLite0

    config = DemoConfig(**{**SOLAR, "image_size": 32})
    backbones = solar.Backbones(config)
    pretrained = backbones.make(True, seed=0)
    reference = EfficientNetLite0(
        include_top=False, pooling="avg", input_shape=(32, 32, 3)
    )
    for a, b in zip(pretrained.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(a, b)
    scratch = backbones.make(False, seed=0)
    kernel = scratch.get_layer("stem_conv").get_weights()[0]
    assert not np.allclose(kernel, reference.get_layer("stem_conv").get_weights()[0])
    assert scratch.get_layer("top_bn").momentum == 0.9
    assert pretrained.get_layer("top_bn").momentum == 0.99
