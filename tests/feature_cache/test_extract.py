"""The feature cache's one-time extraction: batch size, bfloat16 / XLA, the time split."""

import importlib

import keras
import numpy as np
import pytest

from keras_transfer._layers import walk
from keras_transfer.feature_cache import fit_cached_head

extract_module = importlib.import_module("keras_transfer.feature_cache._extract")


def _model():
    backbone = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.Conv2D(4, 3, name="conv"),
            keras.layers.BatchNormalization(name="bn"),
            keras.layers.ReLU(),
        ],
        name="backbone",
    )
    backbone.trainable = False
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.GlobalAveragePooling2D(name="gap")(
        backbone(inputs, training=False)
    )
    model = keras.Model(inputs, keras.layers.Dense(1, name="out")(x))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    return model


def _data(n=64):
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(n, 8, 8, 3)).astype("float32")
    return x, x.mean(axis=(1, 2, 3))[:, None] * 3


class _Clock:
    """Each timed `predict` lasts `seconds[variant]` (bf16 or not, XLA or not)."""

    def __init__(self, seconds, monkeypatch):
        self.seconds, self.now, self.variant = seconds, 0.0, "float32"
        real = extract_module._features

        def features(model, x, batch_size, jit, compiled):
            bf16 = any(layer.compute_dtype == "bfloat16" for layer in walk(model))
            self.variant = ("mixed_bfloat16" if bf16 else "float32") + (
                "+xla" if jit else ""
            )
            return real(model, x, batch_size, jit, compiled)

        monkeypatch.setattr(extract_module, "_features", features)

    def __call__(self):
        self.now += self.seconds[self.variant]
        return self.now


def _feature_model(model):
    return keras.Model(model.inputs, model.get_layer("gap").output)


def _extract_auto(seconds, monkeypatch, payoff=0, budget=float("inf")):
    """`(model, x, features, report)` of an "auto" extraction timed by `seconds`."""
    monkeypatch.setattr(extract_module, "PROBE_PAYOFF", payoff)
    monkeypatch.setattr(extract_module, "PROBE_BUDGET", budget)
    model = _model()
    x, _ = _data()
    clock = _Clock(
        dict(
            zip(
                ("float32", "float32+xla", "mixed_bfloat16", "mixed_bfloat16+xla"),
                seconds,
            )
        ),
        monkeypatch,
    )
    features, report = extract_module.extract(
        _feature_model(model), x, 8, "auto", clock
    )
    return model, x, features, report


def test_auto_keeps_the_fastest_variant_whose_features_match(monkeypatch):
    model, x, features, report = _extract_auto((4.0, 2.0, 3.0, 1.0), monkeypatch)
    assert (report["policy"], report["jit_compile"]) == ("mixed_bfloat16", True)
    # Probes: 2 batches of 8 images in the variant's seconds.
    expected = {"float32+xla": 8.0, "mixed_bfloat16+xla": 16.0}
    if keras.backend.backend() != "jax":  # on JAX predict is always XLA
        expected.update({"float32": 4.0, "mixed_bfloat16": 16 / 3})
    assert report["candidates"] == pytest.approx(expected, abs=0.05)  # rounded to 0.1
    reference = _feature_model(model).predict(x, verbose=0)
    assert report["max_relative_error"] <= extract_module.BF16_TOLERANCE
    scale = np.max(np.abs(reference))
    assert np.max(np.abs(features - reference)) <= extract_module.BF16_TOLERANCE * scale
    assert not np.array_equal(features, reference)  # really computed in bfloat16


def test_auto_does_not_probe_when_the_extraction_is_too_short_to_pay(monkeypatch):
    # float32: first call 4 s (one "compile"), 64 images at 16 per 4 s = 16 s < 10 x 4 s
    _, _, _, report = _extract_auto((4.0, 2.0, 3.0, 1.0), monkeypatch, payoff=10)
    first = "float32+xla" if keras.backend.backend() == "jax" else "float32"
    assert report["policy"] == "float32"
    assert set(report["candidates"]) == {first, "auto"}
    assert "not probed" in report["candidates"]["auto"]


def test_auto_probes_cheap_compiles_first_within_the_budget(monkeypatch):
    # float32: a 4 s first call (the compile) and 16 probe images in 4 s, so
    # the 64 images would take ~16 s; the budget is all of it (16 s).
    _, _, _, report = _extract_auto((4.0, 2.0, 3.0, 1.0), monkeypatch, budget=1.0)
    candidates = report["candidates"]
    if keras.backend.backend() == "jax":
        # All XLA: reference float32+xla (2 s compile, ~8 s estimate and budget);
        # bfloat16+xla's predicted cost (2 s x 3 for the copy) fits: probed, kept.
        assert (report["policy"], report["jit_compile"]) == ("mixed_bfloat16", True)
        assert candidates == pytest.approx(
            {"float32+xla": 8.0, "mixed_bfloat16+xla": 16.0}
        )
        return
    # bfloat16 (predicted 3 x 4 s = 12 s) fits and is probed: its compile and
    # probe spend 3 + 3 s. An XLA compile is predicted at 10 float32 compiles.
    assert (report["policy"], report["jit_compile"]) == ("mixed_bfloat16", False)
    assert candidates["float32"] == pytest.approx(4.0)
    assert candidates["mixed_bfloat16"] == pytest.approx(16 / 3, abs=0.05)
    for name, predicted in (("float32+xla", 40.0), ("mixed_bfloat16+xla", 120.0)):
        assert candidates[name] == (
            f"not probed: ~{predicted:.1f} s to compile would take the probes past "
            "their budget (6.0 s spent of 16.0 s = 100% of the ~16.0 s float32 "
            "extraction)"
        )


def test_auto_drops_bfloat16_when_its_features_differ(monkeypatch):
    # float32 with XLA differs from float32 by rounding only (~1e-7), bfloat16 by ~1e-2.
    monkeypatch.setattr(extract_module, "BF16_TOLERANCE", 1e-4)
    model, x, features, report = _extract_auto((4.0, 2.0, 1.0, 1.0), monkeypatch)
    assert (report["policy"], report["jit_compile"]) == ("float32", True)
    assert report["candidates"]["mixed_bfloat16+xla"].startswith("dropped: max error")
    np.testing.assert_allclose(
        features, _feature_model(model).predict(x, verbose=0), rtol=1e-5, atol=1e-6
    )


def test_fit_cached_head_reports_extraction_head_and_total():
    model = _model()
    x, y = _data(64)
    history = fit_cached_head(
        model,
        x,
        y,
        epochs=2,
        batch_size=8,
        extract_batch_size=16,
        extraction="mixed_bfloat16",
    )
    report = history.feature_cache
    assert report["extraction"]["policy"] == "mixed_bfloat16"
    assert report["extraction"]["batch_size"] == 16
    assert report["extraction_seconds"] > 0 and report["head_seconds"] > 0
    assert report["total_seconds"] == pytest.approx(
        report["extraction_seconds"] + report["head_seconds"]
    )
    assert len(history.history["loss"]) == 2
    # The user's model keeps its float32 layers: the bfloat16 copy is separate.
    assert model.get_layer("backbone").get_layer("conv").compute_dtype == "float32"


def test_small_data_is_extracted_in_float32_without_probing():
    model = _model()
    x, y = _data(16)
    history = fit_cached_head(model, x, y, epochs=1, batch_size=8)
    report = history.feature_cache["extraction"]
    assert report["policy"] == "float32" and report["batch_size"] == 128
    assert "not probed" in report["candidates"]["auto"]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"extraction": "fp8"}, "`extraction`"),
        ({"extract_batch_size": 0}, "`extract_batch_size`"),
    ],
)
def test_bad_extraction_arguments(kwargs, match):
    x, y = _data(16)
    with pytest.raises(ValueError, match=f"{match}.*Received:"):
        fit_cached_head(_model(), x, y, **kwargs)
