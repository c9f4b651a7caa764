"""`fine_tune`: the whole transfer-learning recipe as one call."""

from __future__ import annotations

import dataclasses
import sys
import time

import keras
import numpy as np

from keras_transfer import _snapshot, _trainability
from keras_transfer._validate import check_int
from keras_transfer.grouping import layer_groups
from keras_transfer.optimizers import LayerwiseLR
from keras_transfer.recipe import _backup, _cuts, _scores, _views


@dataclasses.dataclass
class FineTuneResult:
    """What `fine_tune` returns.

    Attributes:
        model: the fine-tuned model (the same object that was passed), best
            validation weights restored.
        history: one dict per epoch: `phase` ("head" or "stage k"), `loss`,
            `val_loss`, `val_accuracy`, `val_balanced_accuracy`, `seconds`.
        report: the settings actually used and what they gave: class
            weights, validation size, stages (groups trained, cut, seconds,
            img/s), the kept epoch, validation scores with and without
            test-time flips, whether flips are recommended at prediction.
    """

    model: keras.Model
    history: list
    report: dict


def _stratified_split(
    y: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    train, val = [], []
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        # at least one validation sample of every class that has two
        take = max(1, int(round(len(members) * fraction))) if len(members) > 1 else 0
        val.extend(members[:take])
        train.extend(members[take:])
    return np.sort(np.asarray(train, int)), np.sort(np.asarray(val, int))


def balanced_class_weight(y: np.ndarray, num_classes: int) -> dict[int, float]:
    """`n / (num_classes * count_c)` per class (scikit-learn's "balanced")."""
    counts = np.bincount(y, minlength=num_classes).astype(float)
    present = counts > 0
    weights = np.where(present, len(y) / (present.sum() * np.maximum(counts, 1)), 0.0)
    return {c: float(w) for c, w in enumerate(weights)}


def _check(
    model: object, x: object, y: object, validation_split: float, views: str,
    class_weight: object, stages: object, batch_size: int, head_epochs: int,
    epochs_per_stage: int, patience: int, tta: object, time_budget: object,
) -> tuple[np.ndarray, np.ndarray, int]:  # fmt: skip
    if not isinstance(model, keras.Model) or not getattr(model, "inputs", None):
        raise TypeError(
            "`model` must be a built Functional or Sequential keras.Model whose "
            "pretrained part is frozen (start it with keras.Input). "
            f"Received: model={type(model).__name__}"
        )
    check_int("batch_size", batch_size, 1)
    check_int("head_epochs", head_epochs, 0)
    check_int("epochs_per_stage", epochs_per_stage, 1)
    check_int("patience", patience, 1)
    _views.check_views(views)
    x, y = np.asarray(x), np.asarray(y).reshape(-1)
    if len(x) != len(y):
        raise ValueError(
            "`x` and `y` must hold the same number of samples. "
            f"Received: len(x)={len(x)}, len(y)={len(y)}"
        )
    num_classes = int(model.outputs[0].shape[-1])
    if y.dtype.kind not in "iu" or y.min() < 0 or y.max() >= num_classes:
        raise ValueError(
            f"`y` must hold integer class indices in [0, {num_classes}) (the model's "
            f"{num_classes} outputs). Received: y of dtype {y.dtype} with values "
            f"{np.unique(y)[:10].tolist()}"
        )
    if not 0 < validation_split < 1:
        raise ValueError(
            "`validation_split` must be a fraction strictly between 0 and 1 (the "
            "recipe keeps its best epoch by the validation score). "
            f"Received: validation_split={validation_split!r}"
        )
    if not (
        class_weight in ("auto", "balanced", None) or isinstance(class_weight, dict)
    ):
        raise ValueError(
            '`class_weight` must be "auto", "balanced", None or a dict {class: weight}. '
            f"Received: class_weight={class_weight!r}"
        )
    if time_budget is not None and not (
        isinstance(time_budget, (int, float)) and time_budget >= 0
    ):  # fmt: skip
        raise ValueError(
            "`time_budget` must be a number of seconds >= 0 or None. "
            f"Received: time_budget={time_budget!r}"
        )
    if tta not in ("auto", True, False):
        raise ValueError(f'`tta` must be "auto", True or False. Received: tta={tta!r}')
    if not (stages == "auto" or (
        isinstance(stages, (list, tuple)) and all(isinstance(s, int) for s in stages)
    )):  # fmt: skip
        raise ValueError(
            '`stages` must be "auto" or a list of group counts (top first, head '
            "included), e.g. [6, 12]. "
            f"Received: stages={stages!r}"
        )
    return x, y, num_classes


def _class_weights(
    class_weight: object, y: np.ndarray, num_classes: int
) -> dict | None:
    if isinstance(class_weight, dict):
        return {int(k): float(v) for k, v in class_weight.items()}
    if class_weight is None:
        return None
    counts = np.bincount(y, minlength=num_classes)
    present = counts[counts > 0]
    if class_weight == "balanced":
        return balanced_class_weight(y, num_classes)
    if present.max() <= 1.5 * present.min():
        return None
    return softened_class_weight(y, num_classes)


def softened_class_weight(y: np.ndarray, num_classes: int) -> dict[int, float]:
    """The square root of the "balanced" weights, scaled to a mean of 1 per sample.

    Full "balanced" weights on the solar cells (a 10x rarest/commonest ratio)
    raised the test balanced accuracy from 0.53 to 0.59 but cut plain
    accuracy from 0.79 to 0.55 (benchmarks/recipes.py, 224 px): the rare
    class gained recall at the expense of the common ones. The square root
    halves the ratio between classes (in log scale).
    """
    root = {c: np.sqrt(w) for c, w in balanced_class_weight(y, num_classes).items()}
    mean = np.mean([root[int(c)] for c in y])
    return {c: float(w / mean) for c, w in root.items()}


def _plan(cuts: list, stages: object) -> list:
    """The cuts to train at, shallowest first: one per resolution level.

    "auto": the deepest cut at the backbone's last resolution, then the
    deepest at the next one (two stages); the activations of each are cached.
    """
    if stages != "auto":
        by_groups = {cut.groups: cut for cut in cuts}
        missing = [s for s in stages if s not in by_groups]
        if missing:
            raise ValueError(
                "`stages` must name group counts where the backbone can be cut. "
                f"Possible: {sorted(by_groups)}. Received: stages={list(stages)}"
            )
        return [by_groups[s] for s in stages]
    levels: dict[int, object] = {}
    for cut in cuts:  # shallowest first: the last one of a level is its deepest
        size = cut.tensor.shape[1]
        levels[size if size is not None else 0] = cut
    ordered = [levels[size] for size in sorted(levels)]
    return ordered[:2]


def _set_trainable(model: keras.Model, groups: list, count: int) -> None:
    """Exactly the top `count` groups train (BatchNorm in inference mode)."""
    model.trainable = False
    for group in groups[:count]:
        for layer in group.layers:
            _trainability.unfreeze(model, layer, "frozen")


def _extract(
    lower: keras.Model, x: np.ndarray, views: str, batch_size: int, verbose: int = 0
) -> np.ndarray:
    """`(views, n, ...)` activations of every view of `x` (inference mode).

    `verbose`: a line first, then Keras's progress bar on a terminal, or a
    line per view when it ends otherwise (a log).
    """
    count = len(_views.VIEWS[views])
    shown = 0
    if verbose:
        print(f"Extracting activations: {len(x)} images x {count} view(s)", flush=True)
        shown = 1 if getattr(sys.stdout, "isatty", lambda: False)() else 2
    out = [
        lower.predict(_views.view(x, v, views), batch_size=batch_size, verbose=shown)
        for v in range(count)
    ]
    if isinstance(out[0], list):  # several outputs: one array per view and output
        return [[np.asarray(a) for a in per_view] for per_view in out]
    return np.stack(out)


class _StageCaches:
    """Activations at the stages' cuts, extracted in one pass on first use.

    While the first stage trains, everything below every later cut is still
    frozen, so the activations at all cuts can be computed in one pass over
    the views (measured on the solar cells: two passes, one per stage, took
    353 s and 258 s of a 1,000 s budget). Stages a resumed run skipped are
    left out. Validation needs only the identity view (the per-epoch score).
    """

    def __init__(
        self, model: keras.Model, backbone: keras.Layer, cuts: list, views: str,
        batch_size: int, verbose: int,
    ) -> None:  # fmt: skip
        self.model, self.backbone, self.cuts = model, backbone, cuts
        self.views, self.batch_size, self.verbose = views, batch_size, verbose
        self.train: dict = {}
        self.val: dict = {}

    def get(self, cut: object, x: np.ndarray, x_val: np.ndarray) -> tuple:
        """`(train activations (views, n, ...), validation (1, n_val, ...))`."""
        if id(cut) not in self.train:
            todo = self.cuts[self.cuts.index(cut) :]
            lower = _cuts.lower_many(self.model, self.backbone, todo)
            train = _extract(lower, x, self.views, self.batch_size, self.verbose)
            val = _extract(lower, x_val, "none", self.batch_size, self.verbose)
            for i, later in enumerate(todo):
                self.train[id(later)] = np.stack([view[i] for view in train])
                self.val[id(later)] = np.stack([view[i] for view in val])
        return self.train.pop(id(cut)), self.val.pop(id(cut))


def _epochs(
    trainable: keras.Model, inputs: object, y: np.ndarray, val: tuple,
    epochs: int, batch_size: int, class_weight: dict | None, rng: np.random.Generator,
    phase: str, best: dict, history: list, patience: int | None, verbose: int,
    deadline: float | None = None, backup: _backup.Backup | None = None,
) -> bool:  # fmt: skip
    """Trains `epochs` epochs; each sample gets one random view per epoch.

    `inputs(order, view_of)` returns the epoch's inputs. After each epoch the
    validation views are scored; the best weights by balanced accuracy (ties:
    lower validation loss) are kept in `best`. With `patience`, training
    stops after that many epochs without a lower (class-weighted) validation
    loss: a smooth criterion, where balanced accuracy on a few rare-class
    samples is noisy and stopped the head phase early. Returns False when the
    `deadline` (a `time.perf_counter()` value) would pass during the next
    epoch, judged by the last one: training stops there. With a `backup`,
    the phase continues where the backup left it and is saved after epochs.
    """
    stale, lowest, last = 0, np.inf, 0.0
    first = 0
    if backup is not None:
        first, stale, lowest, last = backup.resume(phase, trainable)
        if patience is not None and stale >= patience:
            first = epochs  # the phase had stopped early
    for epoch in range(first, epochs):
        start = time.perf_counter()
        if deadline is not None and start + last > deadline:
            return False
        order = rng.permutation(len(y))
        view_of = rng.integers(0, inputs.count, len(y))
        fitted = trainable.fit(
            inputs(order, view_of), y[order], batch_size=batch_size, epochs=1,
            shuffle=False, class_weight=class_weight, verbose=0,
        )  # fmt: skip
        scores = _scores.score(trainable, val[0][:1], val[1], batch_size, class_weight)
        row = {
            "phase": phase,
            "loss": float(fitted.history["loss"][-1]),
            **{f"val_{k}": v for k, v in scores.items() if k != "tta"},
            "seconds": time.perf_counter() - start,
        }
        history.append(row)
        last = row["seconds"]
        key = (scores["balanced_accuracy"], -scores["loss"])
        if best.get("key") is None or key > best["key"]:
            best.update(key=key, epoch=len(history) - 1, phase=phase,
                        values=_snapshot.snapshot(best["variables"]))  # fmt: skip
        stale = 0 if scores["loss"] < lowest else stale + 1
        lowest = min(lowest, scores["loss"])
        if verbose:
            print(
                f"{phase} epoch {epoch + 1}/{epochs}: loss {row['loss']:.4f}, val "
                f"accuracy {row['val_accuracy']:.4f}, balanced "
                f"{row['val_balanced_accuracy']:.4f}, {row['seconds']:.1f} s",
                flush=True,
            )
        if backup is not None:
            backup.save(phase, epoch + 1, stale, lowest, last, trainable.optimizer)
        if patience is not None and stale >= patience:
            break
    return True


class _Cached:
    """Epoch inputs gathered from cached activations `(views, n, ...)`."""

    def __init__(self, features: np.ndarray) -> None:
        self.features, self.count = features, len(features)

    def __call__(self, order: np.ndarray, view_of: np.ndarray) -> np.ndarray:
        return self.features[view_of[order], order]


class _Images:
    """Epoch inputs computed from the images (the uncached path)."""

    def __init__(self, x: np.ndarray, views: str) -> None:
        self.x, self.views, self.count = x, views, len(_views.VIEWS[views])

    def __call__(self, order: np.ndarray, view_of: np.ndarray) -> np.ndarray:
        picked = self.x[order]
        out = np.empty_like(picked)
        chosen = view_of[order]
        for v in range(self.count):
            out[chosen == v] = _views.view(picked[chosen == v], v, self.views)
        return out


def fine_tune(
    model: keras.Model,
    x: np.ndarray,
    y: np.ndarray,
    *,
    validation_data: tuple | None = None,
    validation_split: float = 0.2,
    batch_size: int = 32,
    head_epochs: int = 200,
    head_learning_rate: float = 1e-3,
    patience: int = 10,
    stages: object = "auto",
    epochs_per_stage: int = 6,
    learning_rate: float = 1e-4,
    decay: float = 0.8,
    views: str = "flips",
    class_weight: object = "auto",
    tta: object = "auto",
    cache: bool = True,
    time_budget: float | None = None,
    jit_compile: object = "auto",
    seed: int = 0,
    verbose: int = 1,
    backup_dir: str | None = None,
) -> FineTuneResult:
    """Fine-tunes `model` with the transfer recipe: head first, then deeper stages.

    1. The head (everything after the frozen backbone) trains on backbone
       features computed once, with early stopping on the validation loss
       (`head_epochs` is a ceiling: cached epochs cost almost nothing).
    2. Each stage unfreezes the layer groups above a cut inside the backbone
       (`keras_transfer.layer_groups`, top first; BatchNorm stays in inference
       mode) and trains them with `LayerwiseLR` depth decay on activations
       cached at the cut: the frozen part below is a fixed function of the
       input, so its output is computed once per augmented view
       (`views`: exact flips) instead of at every step. The result equals
       training the whole model on the same views in the same order
       (`cache=False` does that, as a check and for models that cannot be
       cut). `stages="auto"`: the deepest cut at the backbone's last
       feature-map resolution, then at the one before. A backbone with no
       inside to cut at (a `HubBackbone`, a single layer) gets one stage that
       trains the whole model on the images (uncached).
    3. The kept weights are those of the epoch with the best validation
       balanced accuracy (mean per-class recall: it does not reward ignoring
       a rare class; ties go to the lower validation loss).

    Class imbalance: with `class_weight="auto"`, when the largest class has
    more than 1.5x the samples of the smallest, the loss weights each class
    by `sqrt(n / (num_classes * count))`, scaled to a mean of 1 per sample
    (`softened_class_weight`; `"balanced"` drops the square root); the
    report says which.

    Args:
        model: a built model `inputs -> [preprocessing] -> backbone -> head`
            whose pretrained backbone (a nested Keras model, e.g. from
            `keras.applications` or `keras_transfer.applications`) is frozen,
            and whose output is `num_classes` probabilities (softmax).
        x: images (or whatever `model` takes), a NumPy array.
        y: integer class indices.
        validation_data: `(x_val, y_val)`. Defaults to `None`: a stratified
            `validation_split` of `x`.
        validation_split: fraction of each class held out when
            `validation_data` is None. Defaults to `0.2`.
        batch_size: training batch size. Defaults to `32`.
        head_epochs: most head epochs (early stopping on `val_loss` with
            `patience`). `0` skips the head phase. Defaults to `200`.
        head_learning_rate: Adam learning rate of the head. Defaults to
            `1e-3`.
        patience: epochs without a lower validation loss before the head
            phase stops. Defaults to `10`.
        stages: `"auto"` or a list of group counts (head included) to train
            in turn, e.g. `[6, 12]`; `[]` trains the head alone. Defaults to
            `"auto"`.
        epochs_per_stage: epochs of each stage. Defaults to `6`.
        learning_rate: the top group's Adam learning rate in the stages
            (warmed up over each stage's first epoch from a tenth of it,
            then cosine-decayed). Defaults to `1e-4`.
        decay: `LayerwiseLR` depth decay: group `i` gets
            `learning_rate * decay**i`. Defaults to `0.8`.
        views: augmented views cached per image: `"flips"` (identity,
            horizontal, vertical, both), `"hflip"` or `"none"`. Defaults to
            `"flips"`.
        class_weight: `"auto"` (softened weights when imbalanced),
            `"balanced"`, `None` or a dict. Defaults to `"auto"`.
        tta: average the predictions over the views when scoring:
            `"auto"` recommends it in the report when it raised the
            validation balanced accuracy. Defaults to `"auto"`.
        cache: train the stages on cached activations. Defaults to `True`.
        time_budget: seconds for the whole call: an epoch (or a stage) that
            would end past it, judged by the epoch before, is not started;
            the report says where it stopped. Defaults to `None` (no limit).
        jit_compile: passed to `compile` of every model the recipe trains
            (XLA lost 3-7x for convnets on 2-core CPUs: choose per device,
            e.g. with `keras_transfer.throughput.select_precision`). Defaults
            to `"auto"` (Keras's choice).
        seed: seeds the split, the epoch orders and the views. Defaults to
            `0`.
        verbose: `1` prints a line per epoch. Defaults to `1`.
        backup_dir: a folder where the progress is saved after epochs (see
            `keras_transfer.recipe._backup`): the weights, the optimizer's
            variables, the generator, the history. A call with the same
            arguments, data and `backup_dir` after an interruption skips the
            epochs done and gives the model an uninterrupted call gives (up to
            the backend's determinism); the report's `resumed_from` says
            where it continued. The folder is removed when the call returns;
            one holding another run's backup is refused (`ValueError`).
            `time_budget` counts from the resumed call's start. Defaults to
            `None` (no backup).

    Returns:
        A `FineTuneResult` (`model`, `history`, `report`).

    Example:

    >>> import keras, numpy as np
    >>> import keras_transfer as kt
    >>> backbone = keras.Sequential([keras.Input((8, 8, 3)),
    ...     keras.layers.Conv2D(4, 3, name="conv1"),
    ...     keras.layers.Conv2D(4, 3, name="conv2")], name="backbone")
    >>> backbone.trainable = False
    >>> inputs = keras.Input((8, 8, 3))
    >>> features = keras.layers.GlobalAveragePooling2D()(backbone(inputs))
    >>> head = keras.layers.Dense(2, activation="softmax", name="head")
    >>> model = keras.Model(inputs, head(features))
    >>> rng = np.random.default_rng(0)
    >>> x, y = rng.random((40, 8, 8, 3)).astype("float32"), np.arange(40) % 2
    >>> result = kt.fine_tune(model, x, y, head_epochs=3, epochs_per_stage=1, verbose=0)
    >>> [row["phase"] for row in result.history][-2:]
    ['head', 'stage 1']
    >>> [stage["trained_groups"] for stage in result.report["stages"]]
    [['head', 'conv2']]
    """
    settings = {k: v for k, v in locals().items() if k not in _backup.UNSAVED}
    start = time.perf_counter()
    x, y, num_classes = _check(
        model, x, y, validation_split, views, class_weight, stages, batch_size,
        head_epochs, epochs_per_stage, patience, tta, time_budget,
    )  # fmt: skip
    deadline = None if time_budget is None else start + float(time_budget)
    if validation_data is None:
        train, held = _stratified_split(y, validation_split, seed)
        if not len(held):
            raise ValueError(
                "`x` needs at least two samples of some class to hold out a "
                "validation split (the recipe keeps its best epoch by it), or pass "
                f"`validation_data`. Received: class counts {np.bincount(y).tolist()}"
            )
        x_val, y_val, x, y = x[held], y[held], x[train], y[train]
    else:
        x_val, y_val = (
            np.asarray(validation_data[0]),
            np.asarray(validation_data[1]).reshape(-1),
        )
    weights = _class_weights(class_weight, y, num_classes)
    backbone = _cuts.find_backbone(model)
    if backbone is None:
        raise ValueError(
            "`model` must contain its pretrained backbone as one frozen top-level "
            "layer, ideally a nested Keras model (e.g. `base = "
            "keras.applications.X(include_top=False); base.trainable = False; "
            "outputs = head(base(inputs))`). "
            f"Received: model={model.name!r} with top-level layers "
            f"{[layer.name for layer in model.layers]}"
        )
    rng = np.random.default_rng(seed)
    groups = layer_groups(model)
    flags = _trainability.snapshot(model)
    history: list = []
    best: dict = {"variables": list(model.variables)}
    report: dict = {
        "num_train": len(y), "num_validation": len(y_val), "class_weight": weights,
        "class_counts": np.bincount(y, minlength=num_classes).tolist(),
        "views": views, "cache": cache, "stages": [],
    }  # fmt: skip
    backup = _open_backup(backup_dir, model, rng, history, best, report,
                          (x, y, x_val, y_val), settings)  # fmt: skip
    head_cut = _cuts.head_cut(model, backbone)
    found = _cuts.cuts(model, backbone, x[:2])
    if stages == [] or stages == ():
        plan = []  # the head alone
    else:
        plan = _plan(found, stages) if found else [None]  # None: the whole model
    extract_start = time.perf_counter()
    skip_head = backup is not None and backup.skips("head")
    if not skip_head:
        head_features = _extract(
            head_cut.lower, x, "none", max(batch_size, 64), verbose
        )
        val_head = _extract(head_cut.lower, x_val, "none", max(batch_size, 64), verbose)
        report["head_extraction_seconds"] = time.perf_counter() - extract_start
    finished = True
    if head_epochs and not skip_head:
        _set_trainable(model, groups, 1)
        head_cut.upper.compile(
            optimizer=keras.optimizers.Adam(head_learning_rate),
            loss="sparse_categorical_crossentropy",
            jit_compile=jit_compile,
        )
        finished = _epochs(
            head_cut.upper, _Cached(head_features), y, (val_head, y_val), head_epochs,
            batch_size, weights, rng, "head", best, history, patience, verbose, deadline,
            backup,
        )  # fmt: skip
        if "values" in best:  # none when the time budget allowed no epoch
            _snapshot.restore(best["variables"], best["values"])
    caches = _StageCaches(
        model, backbone, [cut for cut in plan if cut is not None], views,
        max(batch_size, 64), verbose,
    )  # fmt: skip
    for number, cut in enumerate(plan, start=1):
        stage_start = time.perf_counter()
        if not finished or (deadline is not None and stage_start > deadline):
            finished = False
            break
        if backup is not None and backup.skips(f"stage {number}"):
            continue  # done before the interruption: its report came back
        count = len(groups) if cut is None else cut.groups
        _set_trainable(model, groups, count)
        if cache and cut is not None:
            features, val_features = caches.get(cut, x, x_val)
            trainable, inputs = cut.upper, _Cached(features)
        else:
            val_features = x_val[None]  # the per-epoch score uses the identity view
            trainable, inputs = model, _Images(x, views)
        extraction = time.perf_counter() - stage_start
        epoch_steps = -(-len(y) // batch_size)
        # a fresh Adam's first steps are its largest: warm up over one epoch
        schedule = keras.optimizers.schedules.CosineDecay(
            learning_rate / 10, epoch_steps * (epochs_per_stage - 1) or 1, alpha=0.02,
            warmup_target=learning_rate, warmup_steps=epoch_steps,
        )  # fmt: skip
        trainable.compile(
            optimizer=LayerwiseLR(keras.optimizers.Adam(schedule), decay=decay,
                                  groups=groups[:count], warn_unmatched=False),
            loss="sparse_categorical_crossentropy",
            jit_compile=jit_compile,
        )  # fmt: skip
        train_start = time.perf_counter()
        finished = _epochs(
            trainable, inputs, y, (val_features, y_val), epochs_per_stage, batch_size,
            weights, rng, f"stage {number}", best, history, None, verbose, deadline,
            backup,
        )  # fmt: skip
        seconds = time.perf_counter() - train_start
        epochs_run = sum(row["phase"] == f"stage {number}" for row in history)
        cached = isinstance(inputs, _Cached)
        report["stages"].append({
            "cut": None if cut is None else cut.name, "groups": count,
            "trained_groups": [g.name for g in groups[:count]],
            "cached_shape": list(inputs.features.shape[2:]) if cached else None,
            "cached_megabytes": inputs.features.nbytes / 2**20 if cached else 0.0,
            "extraction_seconds": extraction, "train_seconds": seconds,
            "epochs": epochs_run,
            "train_images_per_second": len(y) * epochs_run / max(seconds, 1e-9),
        })  # fmt: skip
        if not finished:
            break
    if "values" in best:
        _snapshot.restore(best["variables"], best["values"])
    _trainability.restore(flags)
    plain = _scores.score(model, x_val[None], y_val, batch_size)
    flipped = _scores.score(
        model,
        np.stack([_views.view(x_val, v, views) for v in range(len(_views.VIEWS[views]))]),
        y_val, batch_size,
    )  # fmt: skip
    use_tta = (
        flipped["balanced_accuracy"] > plain["balanced_accuracy"]
        if tta == "auto"
        else tta
    )
    report.update(
        kept_epoch=best.get("epoch"), kept_phase=best.get("phase"),
        stopped_by_time_budget=not finished, time_budget=time_budget,
        validation=plain, validation_tta=flipped, tta=bool(use_tta) and views != "none",
        seconds=time.perf_counter() - start,
        resumed_from=None if backup is None else backup.resumed_from,
    )  # fmt: skip
    if backup is not None:
        backup.remove()
    return FineTuneResult(model, history, report)


def _open_backup(
    directory: str | None, model: keras.Model, rng: np.random.Generator,
    history: list, best: dict, report: dict, arrays: tuple, settings: dict,
) -> _backup.Backup | None:  # fmt: skip
    """`fine_tune(backup_dir=...)`: the run's backup, loaded when one was left."""
    if directory is None:
        return None
    digest = _backup.fingerprint(model, arrays, settings)
    backup = _backup.Backup(directory, model, rng, history, best, report, digest)
    backup.load()
    return backup
