"""`rank_backbones`: which pretrained backbone to fine-tune, from one forward pass each."""

from __future__ import annotations

import time
import warnings

import keras
import numpy as np

from keras_transfer._validate import check_int
from keras_transfer.feature_cache._extract import EXTRACTIONS, extract
from keras_transfer.ranking._candidates import feature_model
from keras_transfer.ranking._folds import stratified_folds
from keras_transfer.ranking._hscore import hscore
from keras_transfer.ranking._imagenet_top1 import known_top1
from keras_transfer.ranking._knn import knn_accuracy
from keras_transfer.ranking._linear_probe import linear_probe_accuracy
from keras_transfer.ranking._logme import logme
from keras_transfer.ranking.ranking_result import SCORE_TITLES, RankingResult

# Pooled features below this mean magnitude train no head (a randomly
# initialised EfficientNet-Lite0 gives ~1e-12 on digits: kNN, being scale-free,
# still scored it 0.82 while its head stayed at chance; benchmarks/rank.py).
TINY_FEATURES = 1e-6

_RULES = {
    "knn": "the highest cross-validated kNN accuracy (k={k}, {folds} folds)",
    "linear_probe": "the highest cross-validated linear-probe accuracy ({folds} folds)",
    "logme": "the highest LogME",
    "hscore": "the highest H-score (Ledoit-Wolf shrinkage)",
    "imagenet_top1": "the highest published ImageNet top-1",
}


def _check_data(x: object, y: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`(x, class index per image, class values)`; raises on too little data."""
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim < 2:
        raise ValueError(
            "`x` must be an array of images (n, height, width, channels). "
            f"Received: x of shape {x.shape}"
        )
    if y.ndim != 1 or len(y) != len(x) or y.dtype.kind not in "iub":
        raise ValueError(
            "`y` must be a 1-D array of integer class labels, one per image of `x`. "
            f"Received: y of shape {y.shape} and dtype {y.dtype}, x of shape {x.shape}"
        )
    classes, index, counts = np.unique(y, return_inverse=True, return_counts=True)
    if len(classes) < 2:
        raise ValueError(
            "`y` must hold at least 2 classes (a score compares how well the features "
            f"separate classes). Received: y with classes {classes.tolist()}"
        )
    if counts.min() < 2:
        few = {int(c): int(n) for c, n in zip(classes, counts) if n < 2}
        raise ValueError(
            "`y` must hold at least 2 images per class (the scores are "
            f"cross-validated). Received: classes with fewer: {few}"
        )
    return x, index.astype(int), classes


def _named(candidates: object) -> dict:
    """Candidate name -> candidate (a name string or a Keras model)."""
    if isinstance(candidates, dict):
        named = dict(candidates)
    elif isinstance(candidates, (list, tuple)):
        named = {}
        for candidate in candidates:
            name = (
                candidate
                if isinstance(candidate, str)
                else getattr(candidate, "name", None)
            )
            if not isinstance(candidate, (str, keras.Layer)):
                raise TypeError(
                    "each of `candidates` must be a backbone name (as `keras-transfer fit "
                    "--backbone` takes) or a Keras model. Received: "
                    f"{type(candidate).__name__}"
                )
            if name in named:
                raise ValueError(
                    f"`candidates` has two entries named {name!r}: pass a dict "
                    "{name: candidate} to name them apart. Received: candidates="
                    f"{[c if isinstance(c, str) else c.name for c in candidates]}"
                )
            named[name] = candidate
    else:
        raise TypeError(
            "`candidates` must be a list of backbone names or Keras models, or a dict "
            f"{{name: candidate}}. Received: {type(candidates).__name__}"
        )
    if not named:
        raise ValueError("`candidates` must name at least one backbone. Received: []")
    return named


def _scores(features: np.ndarray, y: np.ndarray, fold: np.ndarray, k: int) -> dict:
    return {
        "knn": knn_accuracy(features, y, fold, k),
        "linear_probe": linear_probe_accuracy(features, y, fold),
        "logme": logme(features, y),
        "hscore": hscore(features, y),
    }


def _rank(rows: list) -> None:
    """Fills each row's `ranks`: per score, 1 = best among the rows that ran."""
    ran = [row for row in rows if row["status"] == "ok"]
    for row in rows:
        row["ranks"] = {}
    for key in SCORE_TITLES:
        valued = sorted(
            (r for r in ran if r["scores"][key] is not None),
            key=lambda r: -r["scores"][key],
        )
        for position, row in enumerate(valued, start=1):
            row["ranks"][key] = position


def _recommend(rows: list, rule: str, words: str) -> tuple[str | None, str]:
    ran = [r for r in rows if r["status"] == "ok"]
    if not ran:
        return None, "none: no candidate could be loaded and run on the images"
    valued = [r for r in ran if r["scores"][rule] is not None]
    if not valued:
        valued, rule = ran, "knn"
        words = f"no candidate has a {SCORE_TITLES['imagenet_top1']}: " + _RULES["knn"]
    best = max(valued, key=lambda r: (r["scores"][rule], -r["seconds"]["total"]))
    return best["name"], f"{words}; ties: the faster candidate"


def rank_backbones(
    x: np.ndarray,
    y: np.ndarray,
    candidates: object,
    *,
    weights: dict | None = None,
    rule: str = "knn",
    folds: int = 5,
    k: int = 10,
    batch_size: int = 32,
    extraction: str = "float32",
    imagenet_top1: dict | None = None,
    seed: int = 0,
    verbose: int = 1,
) -> RankingResult:
    """Ranks pretrained backbones for a labelled image set, without fine-tuning.

    Each candidate's pooled output (global average of its last feature map,
    inference mode) is computed once for all images, through the feature
    cache's extraction. On those features, per candidate:

    - `knn`: cross-validated k-nearest-neighbour accuracy (cosine on centred
      features; stratified folds). Plain kNN predicted fine-tuned accuracy
      better than dedicated transferability metrics in a study of 23 of them
      on 16 data sets (arXiv:2503.18528);
    - `linear_probe`: cross-validated accuracy of a multinomial logistic
      regression on standardised features (NumPy, L2 `1e-3`);
    - `logme`: LogME (You et al., ICML 2021), the maximised evidence of a
      Bayesian linear model per class, per sample;
    - `hscore`: the H-score (Bao et al., ICIP 2019) with a Ledoit-Wolf
      shrunk covariance (Ibrahim et al., ICLR 2022);
    - `imagenet_top1`: the published ImageNet top-1 where one is known
      (EfficientNetLite0/1/2, MobileNetV2, VGG16 by name, or
      `imagenet_top1=`): a prior, not a measurement.

    A candidate that fails to load, rejects the images or gives non-finite
    features is reported in the table with its error (and a warning); the
    others still rank.

    Args:
        x: images, `(n, height, width, channels)`. Candidates given by name
            take raw RGB pixels 0..255 (their preprocessing is added, as in
            `keras-transfer fit`); Keras models take `x` as it is.
        y: integer class labels, at least 2 classes with 2 images each.
        candidates: a list of backbone names (anything `keras-transfer fit
            --backbone` accepts: `EfficientNetLite0`, a keras.applications
            name with a local weights file in `weights`, a SavedModel path)
            and/or Keras models (named by `model.name`), or a dict
            `{name: candidate}`.
        weights: candidate name -> `--weights` value, for keras.applications
            names (a local weights file). Defaults to `None`.
        rule: the score the recommendation maximises: `"knn"`,
            `"linear_probe"`, `"logme"`, `"hscore"` or `"imagenet_top1"`.
            Defaults to `"knn"`.
        folds: most cross-validation folds (never more than the smallest
            class count). Defaults to `5`.
        k: neighbours of the kNN score. Defaults to `10`.
        batch_size: extraction batch size. Defaults to `32`.
        extraction: how features are computed (the feature cache's
            `"float32"`, `"auto"`, `"mixed_bfloat16"`, ...). Defaults to
            `"float32"`.
        imagenet_top1: candidate name -> its ImageNet top-1 (0..1), added to
            or overriding the known ones. Defaults to `None`.
        seed: seeds the folds. Defaults to `0`.
        verbose: `1` prints one line per candidate. Defaults to `1`.

    Returns:
        A `RankingResult` (`table`, `recommended`, `rule`, `settings`,
        `features`; `to_markdown()`, `as_dict()`).

    Example:

    >>> import keras, numpy as np
    >>> import keras_transfer as kt
    >>> rng = np.random.default_rng(0)
    >>> y = np.arange(40) % 2
    >>> x = rng.normal(0, 1, (40, 8, 8, 3)).astype("float32")
    >>> x[..., 0] += 3 * y[:, None, None]  # channel 0 tells the classes apart
    >>> def backbone(channel, name):
    ...     inputs = keras.Input((8, 8, 3))
    ...     return keras.Model(inputs, inputs[..., channel:channel + 1], name=name)
    >>> result = kt.rank_backbones(x, y, [backbone(1, "blind"), backbone(0, "seeing")],
    ...                            verbose=0)
    >>> result.recommended
    'seeing'
    >>> result.row("seeing")["scores"]["knn"], result.row("blind")["ranks"]["logme"]
    (1.0, 2)
    """
    x, labels, classes = _check_data(x, y)
    named = _named(candidates)
    if rule not in _RULES:
        raise ValueError(
            f"`rule` must be one of {list(_RULES)}. Received: rule={rule!r}"
        )
    check_int("folds", folds, 2)
    check_int("k", k, 1)
    check_int("batch_size", batch_size, 1)
    if extraction not in EXTRACTIONS:
        raise ValueError(
            f"`extraction` must be one of {list(EXTRACTIONS)}. Received: extraction={extraction!r}"
        )
    weights = dict(weights or {})
    unknown = sorted(set(weights) - set(named))
    if unknown:
        raise ValueError(
            f"`weights` names candidates that are not in `candidates` ({sorted(named)}). "
            f"Received: weights for {unknown}"
        )
    fold = stratified_folds(labels, folds, seed)
    rows, features = [], {}
    for name, candidate in named.items():
        row = {"name": name, "description": None, "status": "ok", "error": None,
               "scores": dict.fromkeys(SCORE_TITLES), "feature_dim": None, "feature_scale": None,
               "feature_megabytes": None, "extraction": None}  # fmt: skip
        row["scores"]["imagenet_top1"], row["imagenet_top1_source"] = known_top1(
            name, imagenet_top1
        )
        start = time.perf_counter()
        load = extract_seconds = score_seconds = 0.0
        try:
            model, row["description"] = feature_model(
                candidate, x.shape[1:], weights.get(name)
            )
            load = time.perf_counter() - start
            values, report = extract(model, x, batch_size, extraction)
            extract_seconds = time.perf_counter() - start - load
            del model
            values = values.reshape(len(x), -1)
            if not np.all(np.isfinite(values)):
                raise ValueError(
                    "the candidate's features are not all finite (NaN or inf)"
                )
        except Exception as error:  # the candidate's failure, reported; the others rank
            row.update(status="failed", error=f"{type(error).__name__}: {error}"[:500])
            warnings.warn(
                f"rank_backbones: candidate {name!r} failed and is left out of the "
                f"ranking: {row['error']}",
                stacklevel=2,
            )
        else:
            begin = time.perf_counter()
            row["scores"].update(_scores(values, labels, fold, k))
            score_seconds = time.perf_counter() - begin
            features[name] = values
            scale = float(np.mean(np.abs(values)))
            if scale < TINY_FEATURES:
                warnings.warn(
                    f"rank_backbones: candidate {name!r} gives features of mean magnitude "
                    f"{scale:.1e}; kNN and LogME do not see scale, but a head trained on "
                    "them will not learn. HINT: a randomly initialised or broken backbone?",
                    stacklevel=2,
                )
            row.update(
                feature_scale=scale,
                feature_dim=int(values.shape[1]),
                feature_megabytes=values.nbytes / 2**20,
                extraction={
                    "policy": report["policy"],
                    "jit_compile": report["jit_compile"],
                },
            )
        row["seconds"] = {"load": load, "extract": extract_seconds, "score": score_seconds,
                          "total": time.perf_counter() - start}  # fmt: skip
        rows.append(row)
        if verbose:
            shown = ", ".join(
                f"{key} {value:.3f}"
                for key, value in row["scores"].items()
                if value is not None
            )
            print(
                f"rank_backbones: {name}: "
                + (shown if row["status"] == "ok" else f"failed ({row['error'][:120]})")
                + f" ({row['seconds']['total']:.1f} s)"
            )
    _rank(rows)
    words = _RULES[rule].format(k=k, folds=int(fold.max()) + 1)
    recommended, words = _recommend(rows, rule, words)
    settings = {
        "num_images": len(x), "num_classes": len(classes), "classes": classes.tolist(),
        "class_counts": np.bincount(labels).tolist(), "image_shape": list(x.shape[1:]),
        "folds": int(fold.max()) + 1, "k": k, "rule": rule, "seed": seed,
        "backend": keras.backend.backend(),
    }  # fmt: skip
    return RankingResult(rows, recommended, words, settings, features)
