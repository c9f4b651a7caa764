"""`label_free_score`: did adaptation help? Scores that need no target labels."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from keras_transfer.adaptation._batches import batch_source
from keras_transfer.adaptation._entropy import looks_like_probabilities, probabilities


def _predict(model: keras.Model, source: Any) -> np.ndarray:
    outputs = [
        np.asarray(keras.tree.flatten(model.predict_on_batch(x))[0]) for x in source()
    ]
    if not outputs:
        raise ValueError(
            "`data` is empty: there is nothing to score. Received: 0 batches"
        )
    return np.concatenate(outputs)


def label_free_score(
    model: keras.Model,
    data: Any,
    reference: keras.Model | None = None,
    from_logits: bool | None = None,
    batch_size: int = 128,
    steps: int | None = None,
) -> dict:
    """Label-free scores of a classifier on (unlabelled) target data.

    Use them to compare adaptation methods (source-only, AdaBN, TENT, DANN) or
    settings without target labels:

    - `im_score` (higher is better): the information-maximisation objective
      `H(mean p) - mean H(p)` (Hu et al. 2017; SHOT, Liang et al. 2020):
      confident per-sample predictions that still use all classes. It is the
      score to rank by; entropy alone rewards a model that collapses to one
      class, and TENT minimises entropy directly, so entropy flatters it.
    - `entropy`: mean per-sample prediction entropy in nats (lower = more
      confident).
    - `confidence`: mean top-class probability.
    - `class_balance`: `H(mean p) / log(classes)`, 1 when predictions spread
      evenly over the classes, 0 when everything goes to one class.
    - `agreement` (only with `reference`): fraction of samples whose top class
      equals `reference`'s, e.g. the source model's; a big drop warns that
      adaptation changed many decisions.

    Args:
        model: a classifier (softmax / sigmoid output, or logits).
        data: target inputs as for `adapt_batchnorm` (arrays, `(x, y)`
            tuples, `tf.data.Dataset`; labels are ignored).
        reference: another classifier to measure agreement with. Defaults to
            `None`.
        from_logits: whether the outputs are logits. Defaults to `None`
            (detected from the predictions).
        batch_size: batch size for array data. Defaults to `128`.
        steps: at most this many batches. Defaults to `None` (all).

    Returns:
        A dict of floats: `im_score`, `entropy`, `confidence`,
        `class_balance`, `samples`, and `agreement` with a `reference`.

    Example:

    >>> import keras, numpy as np
    >>> from keras_transfer.adaptation import label_free_score
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    >>> x = np.random.default_rng(0).normal(size=(64, 4))
    >>> scores = label_free_score(model, x, reference=model)
    >>> scores["agreement"], scores["samples"]
    (1.0, 64)
    """
    if not isinstance(model, keras.Model):
        raise TypeError(
            f"`model` must be a keras.Model. Received: model of type {type(model).__name__}"
        )
    if reference is not None and not isinstance(reference, keras.Model):
        raise TypeError(
            "`reference` must be a keras.Model or None. "
            f"Received: reference of type {type(reference).__name__}"
        )
    source = batch_source(data, batch_size, steps)
    raw = _predict(model, source)
    logits = not looks_like_probabilities(raw) if from_logits is None else from_logits
    p = probabilities(raw, logits)
    per_sample = -np.sum(p * np.log(np.clip(p, 1e-12, 1.0)), axis=-1)
    marginal = p.mean(axis=0)
    marginal_entropy = float(-np.sum(marginal * np.log(np.clip(marginal, 1e-12, 1.0))))
    scores = {
        "im_score": marginal_entropy - float(per_sample.mean()),
        "entropy": float(per_sample.mean()),
        "confidence": float(p.max(axis=-1).mean()),
        "class_balance": marginal_entropy / float(np.log(p.shape[-1])),
        "samples": len(p),
    }
    if reference is not None:
        ref = _predict(reference, source)
        ref_logits = (
            not looks_like_probabilities(ref) if from_logits is None else from_logits
        )
        agree = probabilities(ref, ref_logits).argmax(-1) == p.argmax(-1)
        scores["agreement"] = float(agree.mean())
    return scores
