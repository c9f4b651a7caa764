"""What cached partial fine-tuning buys per stage: cached vs uncached epochs.

    python benchmarks/cached_stages.py --size 224 --images 256 --repeats 3

For each cut of `kt.fine_tune`'s automatic plan on EfficientNet-Lite0 (ImageNet
weights, 4-class head): one training epoch of the groups above the cut on
activations cached at the cut, against one epoch of the whole model (same
trainable groups, the frozen part recomputed) on the images. Configurations
alternate within each repeat (the machine is shared); medians are reported
with min/max, after a warm-up epoch that pays the traces. The limit from
arithmetic: the fraction of the forward multiply-adds above the cut (a
training step costs about 3x the forward of the trained part, plus 1x the
forward of the frozen part when uncached).
"""

from __future__ import annotations

import argparse
import json
import time

import keras
import numpy as np


def _macs(model: keras.Model, size: int) -> dict[str, float]:
    """Forward multiply-adds per Conv/Dense layer of a built model, by name."""
    out = {}
    for layer in model.layers:
        if not layer.weights or not hasattr(layer, "kernel"):
            continue
        shape = layer.output.shape
        spatial = int(np.prod(shape[1:-1])) if len(shape) > 2 else 1
        out[layer.name] = float(np.prod(layer.kernel.shape)) * spatial
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    import keras_transfer as kt
    from keras_transfer.applications import EfficientNetLite0
    from keras_transfer.recipe import _cuts, fine_tuning

    size = args.size
    base = EfficientNetLite0(
        include_top=False, weights="imagenet", input_shape=(size, size, 3)
    )
    base.trainable = False
    inputs = keras.Input((size, size, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(base(inputs))
    model = keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(pooled))
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (args.images, size, size, 3)).astype("float32")
    y = rng.integers(0, 4, args.images)
    plan = fine_tuning._plan(_cuts.cuts(model, base, x[:2]), "auto")
    groups = kt.layer_groups(model)
    macs = _macs(base, size)
    total = sum(macs.values())
    rows = []
    for cut in plan:
        fine_tuning._set_trainable(model, groups, cut.groups)
        above = {layer.name for layer in cut.upper.layers} | {
            layer.name for g in groups[: cut.groups] for layer in g.layers
        }
        share = sum(v for k, v in macs.items() if k in above) / total
        (features,) = _cuts.lower_many(model, base, [cut]).predict(
            x, batch_size=64, verbose=0
        )
        timings = {"cached": [], "uncached": []}
        for trainable, inputs_ in ((cut.upper, features), (model, x)):
            trainable.compile(
                keras.optimizers.Adam(1e-5), "sparse_categorical_crossentropy"
            )
            trainable.fit(
                inputs_, y, batch_size=args.batch_size, epochs=1, verbose=0
            )  # warm-up
        for _ in range(args.repeats):
            for name, trainable, inputs_ in (
                ("cached", cut.upper, features), ("uncached", model, x)
            ):  # fmt: skip
                start = time.perf_counter()
                trainable.fit(
                    inputs_, y, batch_size=args.batch_size, epochs=1, verbose=0
                )
                timings[name].append(time.perf_counter() - start)
        cached, plain = np.median(timings["cached"]), np.median(timings["uncached"])
        # uncached step ~ 1x frozen forward + 3x trained forward; cached ~ 3x trained
        limit = (1 - share + 3 * share) / (3 * share)
        row = {
            "cut": cut.name, "groups": cut.groups, "cached_shape": list(features.shape[1:]),
            "macs_share_above_cut": share,
            "cached_img_s": args.images / cached, "uncached_img_s": args.images / plain,
            "speedup": plain / cached, "arithmetic_limit": limit,
            "cached_s": timings["cached"], "uncached_s": timings["uncached"],
        }  # fmt: skip
        rows.append(row)
        print(json.dumps({k: row[k] for k in ("cut", "groups", "macs_share_above_cut",
              "cached_img_s", "uncached_img_s", "speedup", "arithmetic_limit")}), flush=True)  # fmt: skip
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"size": size, "images": args.images, "rows": rows,
                       "backend": keras.backend.backend()}, f, indent=1)  # fmt: skip


if __name__ == "__main__":
    main()
