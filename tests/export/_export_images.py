"""Bright vs dark PNG files for the export tests (shared with tests/test_cli_export.py).

The images are real PNG files written with PIL (16x16 RGB): "bright" pixels
150-255, "dark" 0-105, so a model separates them easily and a faithful export
must give the same top-1 answer on every file.
"""

import numpy as np
from PIL import Image

SIZE = 16
CLASSES = ["bright", "dark"]  # sorted: the output order


def write_images(root, per_class, seed, size=SIZE):
    """`root/bright/*.png` (pixels 150-255) and `root/dark/*.png` (0-105)."""
    rng = np.random.default_rng(seed)
    for name, low in (("bright", 150), ("dark", 0)):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = rng.integers(low, low + 106, (size, size, 3)).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root


def read_images(root):
    """`(uint8 pixels (n, H, W, 3), labels)` of the PNG files, sorted."""
    paths = sorted(root.rglob("*.png"))
    pixels = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in paths])
    return pixels, np.array([CLASSES.index(p.parent.name) for p in paths])
