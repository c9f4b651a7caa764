"""Private to benchmarks/throughput.py: one measured model per cell (Keras 3 peers).

A cell builds and compiles one model (one peer, phase and configuration),
warms it up in `setup()` (the first call's time is `compile_seconds`) and
times `steps` steady steps per `measure(input)` call, so the runner can
alternate cells repeat by repeat.
"""

from __future__ import annotations

import time
import warnings

import _throughput_models as tm
import keras

from keras_transfer.callbacks import GradualUnfreeze
from keras_transfer.data import make_dataset
from keras_transfer.feature_cache import fit_cached_head
from keras_transfer.throughput import (
    PrecisionChoice,
    autotune,
    effective_settings,
    select_precision,
)


def _loss() -> keras.losses.Loss:
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


class BatchTimer(keras.callbacks.Callback):
    """Times batches 2..n of a `fit` (the first absorbs iterator start-up).

    Reading the loss from the logs syncs with the device at every batch.
    """

    def __init__(self):
        super().__init__()
        self.marks = []

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        float((logs or {}).get("loss", 0.0))
        self.marks.append(time.perf_counter())


class EpochTimer(keras.callbacks.Callback):
    """Seconds of each epoch of a `fit`."""

    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.seconds.append(time.perf_counter() - self._start)


def build_model(spec: dict, compiled: bool = False) -> keras.Model:
    """The row's model under the global dtype policy (seeded), compiled if asked."""
    keras.utils.set_random_seed(0)
    if spec["hub_path"]:
        from keras_transfer.layers import HubBackbone

        backbone = HubBackbone(spec["hub_path"], trainable=spec["phase"] == "full")
        model = tm.classifier(backbone, spec["image_size"], hub=True)
    else:
        backbone = tm.build_backbone(spec["model"], spec["image_size"])
        backbone.trainable = spec["phase"] == "full"
        model = tm.classifier(backbone, spec["image_size"])
    if compiled:
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=_loss())
    return model


def measured_auto(
    spec: dict, settings: dict, cache_dir: str | None
) -> tuple[object, float]:
    """`(choice, autotune seconds)`: `select_precision("auto", model=...)` for the row.

    Runs `autotune` over the harness's configurations first when nothing is
    cached for this model, phase (trainable flags), input shape, batch size,
    device, CPU, backend and versions.
    """
    probe = build_model(spec)
    batch, size = spec["batch_size"], spec["image_size"]

    def lookup():
        return select_precision(
            "auto", model=probe, batch_size=batch, cache_dir=cache_dir
        )

    choice, seconds = lookup(), 0.0
    if "(autotune:" not in choice.reason:
        backend = keras.backend.backend()
        jits = {"jax": [True], "torch": [False]}.get(backend, [False, True])
        candidates = [
            PrecisionChoice(policy, jit)
            for policy in ("float32", "mixed_bfloat16")
            for jit in jits
        ]
        x, y = tm.synthetic_data(size, (settings["steps"] + 1) * batch)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            autotune(
                lambda: build_model(spec, compiled=True),
                x,
                y,
                candidates=candidates,
                batch_size=batch,
                steps=settings["steps"],
                warmup_steps=1,
                cache_dir=cache_dir,
            )
        seconds = time.perf_counter() - start
        choice = lookup()
    return choice, seconds


class KerasCell:
    """A Keras 3 model of the keras-baseline or keras_transfer peer.

    Args:
        spec: row fields: model, image_size, batch_size, phase, peer, config,
            stage (unfreeze stage or None), hub_path (SavedModel or None).
        data: `(x, y)` NumPy arrays of `(steps + 1) * batch_size` samples.
        auto_choice: `select_precision("auto")` of this run.
        settings: steps, warmup, repeats, inputs (list).
    """

    def __init__(self, spec: dict, data: tuple, auto_choice: object, settings: dict):
        self.spec, self.data, self.settings = spec, data, settings
        self.auto_choice = auto_choice
        self.samples = {name: [] for name in settings["inputs"]}
        self.extra = {}
        self.model = None

    # ------------------------------------------------------------------ build
    def _build(self, policy: str) -> keras.Model:
        previous = keras.config.dtype_policy()
        keras.config.set_dtype_policy(policy)
        try:
            return build_model(self.spec)
        finally:
            keras.config.set_dtype_policy(previous)

    def setup(self) -> None:
        spec, (x, y) = self.spec, self.data
        policy, jit = tm.config_settings(spec["config"], spec["peer"], self.auto_choice)
        model = self.model = self._build(policy)
        kwargs = {} if jit == "auto" else {"jit_compile": jit}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=_loss(), **kwargs)
        batch = spec["batch_size"]
        self.xb = keras.ops.convert_to_tensor(x[:batch])
        self.yb = keras.ops.convert_to_tensor(y[:batch])
        self.extra["policy"] = policy
        if spec["phase"] == "head_cached":
            self._setup_cached()
        else:
            if spec["phase"] == "unfreeze":
                model.train_on_batch(self.xb, self.yb)  # head step: optimizer built
                unfreeze = GradualUnfreeze(verbose=0)
                unfreeze.set_model(model)
                unfreeze.on_train_begin()
                unfreeze.on_epoch_begin(spec["stage"])
                self.extra["note"] = (
                    f"GradualUnfreeze stage {spec['stage']}/{unfreeze.num_stages}: "
                    f"{unfreeze._plan[spec['stage'] - 1][0]!r} unfrozen; "
                    "compile_seconds = re-trace after the stage change"
                )
            start = time.perf_counter()
            float(model.train_on_batch(self.xb, self.yb))
            self.extra["compile_seconds"] = time.perf_counter() - start
            for _ in range(self.settings["warmup"]):
                model.train_on_batch(self.xb, self.yb)
            if "pipeline" in self.samples:
                self.pipeline, self.extra["pipeline_input"] = self._pipeline()
                self._fit_pipeline(warm=True)
        self.extra["jit_compile"] = bool(
            effective_settings(model, warn=False)["jit_compile"]
        )
        self.extra["counted_macs"] = tm.counted_macs(model)

    def _pipeline(self) -> tuple[object, str]:
        x, y = self.data
        if self.spec["peer"] == "keras_transfer":
            ds = make_dataset(x, y, batch_size=self.spec["batch_size"], seed=0)
            kind = (
                "numpy-batches" if isinstance(ds, keras.utils.PyDataset) else "tf.data"
            )
            return ds, kind
        return None, "arrays"  # plain model.fit(x, y): Keras's own array adapter

    def _fit_pipeline(self, warm: bool = False) -> float:
        x, y = self.data
        timer = BatchTimer()
        kwargs = {"epochs": 1, "verbose": 0, "callbacks": [timer]}
        if warm:
            kwargs["steps_per_epoch"] = 2
        if self.pipeline is None:
            self.model.fit(x, y, batch_size=self.spec["batch_size"], **kwargs)
        else:
            self.model.fit(self.pipeline, **kwargs)
        timed = len(timer.marks) - 1
        return timed * self.spec["batch_size"] / (timer.marks[-1] - timer.marks[0])

    def _setup_cached(self) -> None:
        x, y = self.data
        epochs = EpochTimer()
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            history = fit_cached_head(
                self.model,
                x,
                y,
                epochs=1 + self.settings["repeats"],
                batch_size=self.spec["batch_size"],
                callbacks=[epochs],
            )
        total = time.perf_counter() - start
        report = history.feature_cache
        self.extra["compile_seconds"] = epochs.seconds[0]
        self.extra["feature_seconds"] = total - sum(epochs.seconds)
        self.extra["extraction"] = {
            key: report["extraction"][key]
            for key in (
                "policy",
                "jit_compile",
                "batch_size",
                "candidates",
                "max_relative_error",
            )
        }
        self.cached_epochs = list(epochs.seconds[1:])
        self.extra["dataset_images"] = len(x)
        self.extra["pipeline_input"] = "cached-features"
        self.extra["note"] = (
            "fit_cached_head: steady per-epoch img/s on features computed once; "
            "compile_seconds = first epoch (head compile + 1 epoch); "
            "feature_seconds = one-time feature extraction"
        )

    # ---------------------------------------------------------------- measure
    def measure(self, kind: str) -> None:
        """Times one repeat of input `kind` ("synthetic" or "pipeline")."""
        if self.spec["phase"] == "head_cached":
            if kind == "pipeline" and self.cached_epochs:
                seconds = self.cached_epochs.pop(0)
                self.samples[kind].append(len(self.data[0]) / seconds)
            return
        if kind == "pipeline":
            self.samples[kind].append(self._fit_pipeline())
            return
        self.samples[kind].append(
            tm.synthetic_images_per_sec(
                self.model, self.xb, self.yb, self.settings["steps"]
            )
        )

    def close(self) -> None:
        self.model = self.xb = self.yb = self.pipeline = None
