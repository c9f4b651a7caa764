"""`build_dann`: the two-headed DANN model trained with an ordinary `fit()`."""

from __future__ import annotations

from collections.abc import Sequence

import keras

from keras_transfer._validate import check_int
from keras_transfer.adaptation._retrace import model_inputs
from keras_transfer.adaptation.gradient_reversal import GradientReversal


def build_dann(
    feature_extractor: keras.Model,
    num_classes: int,
    schedule_steps: int | None = None,
    max_lambda: float = 1.0,
    domain_units: Sequence[int] = (64,),
    name: str = "dann",
) -> keras.Model:
    """Builds a DANN model: label head + domain head behind `GradientReversal`.

    Domain-adversarial training (Ganin & Lempitsky, 2015): the label head
    learns the task on labelled source samples; the domain head learns to
    tell source (0) from target (1) through a `GradientReversal` layer, so
    the shared features are pushed to make the domains indistinguishable.
    Both heads end in float32 logits (mixed-precision safe). Train with a
    plain `compile` + `fit` on `dann_data(...)`:

    ```python
    model.compile(
        optimizer="adam",
        loss={"label": keras.losses.SparseCategoricalCrossentropy(
                  from_logits=True, ignore_class=-1),
              "domain": keras.losses.BinaryCrossentropy(from_logits=True)},
    )
    ```

    The target rows carry label `-1`, which `ignore_class=-1` drops from the
    label loss. Predict classes with `model.predict(x)["label"]`, or keep
    `keras.Model(model.input, model.output["label"])`.

    Args:
        feature_extractor: a built model mapping inputs to a feature vector
            (rank-2 output, e.g. ending in global pooling or `Flatten`).
        num_classes: classes of the label head.
        schedule_steps: steps over which the reversal strength ramps up
            (`GradientReversal`), usually `epochs * steps_per_epoch`.
            Defaults to `None` (constant `max_lambda`).
        max_lambda: final reversal strength. Defaults to `1.0`.
        domain_units: hidden ReLU layer sizes of the domain head. Defaults to
            `(64,)`.
        name: model name. Defaults to `"dann"`.

    Returns:
        An uncompiled `keras.Model` with outputs `{"label", "domain"}`.

    Example:

    >>> import keras, numpy as np
    >>> from keras_transfer.adaptation import build_dann, dann_data
    >>> features = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, "relu")])
    >>> model = build_dann(features, num_classes=3, schedule_steps=20)
    >>> rng = np.random.default_rng(0)
    >>> x, y = dann_data(rng.normal(size=(32, 8)), rng.integers(0, 3, 32),
    ...                  rng.normal(1.0, 1.0, (32, 8)))
    >>> model.compile(optimizer="adam", loss={
    ...     "label": keras.losses.SparseCategoricalCrossentropy(
    ...         from_logits=True, ignore_class=-1),
    ...     "domain": keras.losses.BinaryCrossentropy(from_logits=True)})
    >>> _ = model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    >>> sorted(model.predict(x[:2], verbose=0))
    ['domain', 'label']
    """
    if not isinstance(feature_extractor, keras.Model):
        raise TypeError(
            "`feature_extractor` must be a keras.Model. Received: "
            f"feature_extractor of type {type(feature_extractor).__name__}"
        )
    check_int("num_classes", num_classes, 2)
    if any(
        isinstance(u, bool) or not isinstance(u, int) or u < 1 for u in domain_units
    ):
        raise ValueError(
            "`domain_units` must be a sequence of positive ints. "
            f"Received: domain_units={domain_units!r}"
        )
    inputs = [
        keras.Input(batch_shape=tuple(t.shape), dtype=t.dtype)
        for t in model_inputs(feature_extractor)
    ]
    features = feature_extractor(inputs if len(inputs) > 1 else inputs[0])
    if len(features.shape) != 2:
        raise ValueError(
            "`feature_extractor` must output one feature vector per sample "
            "(rank 2). HINT: end it with GlobalAveragePooling2D or Flatten. "
            f"Received: output shape {tuple(features.shape)}"
        )
    label = keras.layers.Dense(num_classes, dtype="float32", name="label")(features)
    h = GradientReversal(max_lambda, schedule_steps, name="gradient_reversal")(features)
    for i, units in enumerate(domain_units):
        h = keras.layers.Dense(units, activation="relu", name=f"domain_hidden_{i}")(h)
    domain = keras.layers.Dense(1, dtype="float32", name="domain")(h)
    return keras.Model(
        inputs if len(inputs) > 1 else inputs[0],
        {"label": label, "domain": domain},
        name=name,
    )
