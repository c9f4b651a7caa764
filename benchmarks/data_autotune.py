"""Per-epoch training time with tf.data's autotuner on and off, on this host.

    python benchmarks/data_autotune.py [--epochs 8] [--repeats 2]

Trains a small convnet (3 x Conv2D(128) on 32 x 32 x 3, batch 16, 96
images) for `--epochs` timed epochs per feed, each feed in a fresh process:

- `arrays`: `model.fit(x, y)`, Keras's own array input (autotuner on);
- `make_dataset(data_autotune=True)`: our pipeline with the autotuner on;
- `make_dataset(data_autotune=False)`: our pipeline with it off (what
  `make_dataset` picks on a CPU-only host).

For each epoch it records wall seconds and the CPU cores the process used
(user + system CPU seconds / wall seconds), then prints a Markdown table:
median and range of the epoch times, and how many epochs used fewer than
1.5 cores. TensorFlow backend only (the autotuner is tf.data's).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

FEEDS = ("arrays", "autotune_on", "autotune_off")
LABELS = {
    "arrays": "model.fit(x, y) (Keras arrays, autotuner on)",
    "autotune_on": "make_dataset(data_autotune=True)",
    "autotune_off": "make_dataset(data_autotune=False)",
}


def _one_feed(feed: str, epochs: int) -> list[tuple[float, float]]:
    """Times `epochs` epochs after one warm-up epoch; returns (seconds, cores)."""
    os.environ["KERAS_BACKEND"] = "tensorflow"
    import keras
    import numpy as np

    from keras_transfer.data import make_dataset

    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, 96)
    convs = [
        keras.layers.Conv2D(128, 3, padding="same", activation="relu") for _ in range(3)
    ]
    model = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            *convs,
            keras.layers.Flatten(),
            keras.layers.Dense(10),
        ]
    )
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))

    def epoch() -> None:
        if feed == "arrays":
            model.fit(x, y, batch_size=16, epochs=1, verbose=0)
        else:
            data = make_dataset(
                x, y, batch_size=16, seed=0, data_autotune=feed == "autotune_on"
            )
            model.fit(data, epochs=1, shuffle=False, verbose=0)

    epoch()  # traces the train step
    times = []
    for _ in range(epochs):
        start, cpu = time.perf_counter(), os.times()
        epoch()
        after = os.times()
        wall = time.perf_counter() - start
        used = after.user - cpu.user + after.system - cpu.system
        times.append((wall, used / wall))
    return times


def _run_in_fresh_process(feed: str, epochs: int) -> list[tuple[float, float]]:
    result = subprocess.run(
        [sys.executable, __file__, "--feed", feed, "--epochs", str(epochs)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"feed {feed} failed:\n{result.stderr[-3000:]}")
    return [tuple(row) for row in json.loads(result.stdout.strip().splitlines()[-1])]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--epochs", type=int, default=8, help="timed epochs per process"
    )
    parser.add_argument("--repeats", type=int, default=2, help="processes per feed")
    parser.add_argument("--feed", choices=FEEDS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.repeats < 1:
        parser.error(
            f"--epochs and --repeats must be >= 1. Received: epochs={args.epochs}, "
            f"repeats={args.repeats}"
        )
    if args.feed:  # child process: one feed, JSON on the last stdout line
        print(json.dumps(_one_feed(args.feed, args.epochs)))
        return
    rows = {feed: [] for feed in FEEDS}
    for _ in range(args.repeats):  # round robin: host drift hits every feed alike
        for feed in FEEDS:
            rows[feed] += _run_in_fresh_process(feed, args.epochs)
    print(
        f"{os.cpu_count()} CPU cores; {args.repeats} processes x {args.epochs} epochs per feed\n"
    )
    print(
        "| feed | epoch s, median (min-max) | cores used, median | epochs on < 1.5 cores |"
    )
    print("| --- | --- | --- | --- |")
    for feed in FEEDS:
        seconds = sorted(t for t, _ in rows[feed])
        cores = sorted(c for _, c in rows[feed])
        slow = sum(c < 1.5 for c in cores)
        print(
            f"| {LABELS[feed]} | {seconds[len(seconds) // 2]:.2f} "
            f"({seconds[0]:.2f}-{seconds[-1]:.2f}) | {cores[len(cores) // 2]:.2f} "
            f"| {slow} of {len(cores)} |"
        )


if __name__ == "__main__":
    main()
