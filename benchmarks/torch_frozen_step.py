"""Train-step time on PyTorch with the backbone frozen vs trainable.

A frozen Keras variable is a `torch.nn.Parameter` with `requires_grad=False`,
so autograd computes no gradient for it and nothing below the lowest
trainable layer is back-propagated. This measures that on a small CNN
backbone + Dense head, one `train_on_batch` per step, after warm-up, and
checks the frozen backbone's parameters do not require gradients.

    KERAS_BACKEND=torch python benchmarks/torch_frozen_step.py --steps 30
"""

import argparse
import os
import time

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402


def build(frozen):
    keras.utils.set_random_seed(0)
    backbone = keras.Sequential(
        [keras.Input((64, 64, 3))]
        + [
            layer
            for filters in (32, 64, 128)
            for layer in (
                keras.layers.Conv2D(filters, 3, padding="same", activation="relu"),
                keras.layers.Conv2D(filters, 3, padding="same", activation="relu"),
                keras.layers.MaxPooling2D(),
            )
        ]
        + [keras.layers.GlobalAveragePooling2D()],
        name="backbone",
    )
    backbone.trainable = not frozen
    model = keras.Sequential([backbone, keras.layers.Dense(10)])
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model, backbone


def seconds_per_step(frozen, steps, batch):
    model, backbone = build(frozen)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, 64, 64, 3)).astype("float32")
    y = rng.integers(0, 10, size=(batch,))
    for _ in range(3):
        model.train_on_batch(x, y)
    if keras.backend.backend() == "torch":
        needs_grad = [w.value.requires_grad for w in backbone.weights]
        assert not any(needs_grad) if frozen else all(needs_grad), needs_grad
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    return (time.perf_counter() - start) / steps


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    frozen = seconds_per_step(True, args.steps, args.batch)
    trainable = seconds_per_step(False, args.steps, args.batch)
    print(
        f"backend={keras.backend.backend()} batch={args.batch} steps={args.steps}: "
        f"frozen {frozen * 1e3:.1f} ms/step, trainable {trainable * 1e3:.1f} ms/step, "
        f"frozen/trainable = {frozen / trainable:.2f}"
    )


if __name__ == "__main__":
    main()
