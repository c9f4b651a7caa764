import keras
import numpy as np
import pytest
from _tiny import tiny_data, tiny_model

import keras_transfer as kt
from keras_transfer.recipe import (
    balanced_class_weight,
    fine_tuning,
    softened_class_weight,
)


def _model(seed=0, classes=3):
    return tiny_model(seed, classes)


_data = tiny_data


def test_cached_stages_equal_training_the_whole_model_on_the_same_views():
    x, y = _data()
    results = {}
    for cache in (True, False):
        model = _model()
        results[cache] = kt.fine_tune(
            model,
            x,
            y,
            cache=cache,
            head_epochs=2,
            epochs_per_stage=2,
            stages=[2, 3],
            batch_size=8,
            seed=3,
            verbose=0,
        )
    cached, plain = results[True].model, results[False].model
    assert [r["phase"] for r in results[True].history] == [
        "head",
        "head",
        "stage 1",
        "stage 1",
        "stage 2",
        "stage 2",
    ]
    moved = [
        np.abs(np.asarray(a) - np.asarray(b)).max()
        for a, b in zip(cached.weights, _model().weights)
    ]
    assert moved[:2] == [0, 0]  # c1 (below every cut) never trains
    assert min(moved[2:]) > 0  # c2, c3 and the head do
    for a, b in zip(cached.weights, plain.weights):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)
    for row_a, row_b in zip(results[True].history, results[False].history):
        assert row_a["loss"] == pytest.approx(row_b["loss"], rel=1e-4)
    assert results[True].report["stages"][0]["cached_shape"] == [4, 4, 6]


def test_balanced_class_weight_known_answer():
    weights = balanced_class_weight(np.array([0, 0, 0, 1]), 3)
    assert weights == pytest.approx({0: 4 / (2 * 3), 1: 4 / (2 * 1), 2: 0.0})


def test_softened_class_weight_known_answer():
    # balanced: 2/3 and 2; square roots 0.8165 and 1.4142; per-sample mean
    # (3 * 0.8165 + 1.4142) / 4 = 0.9659
    weights = softened_class_weight(np.array([0, 0, 0, 1]), 2)
    mean = (3 * np.sqrt(2 / 3) + np.sqrt(2)) / 4
    assert weights == pytest.approx({0: np.sqrt(2 / 3) / mean, 1: np.sqrt(2) / mean})
    assert weights[1] / weights[0] == pytest.approx(np.sqrt(3))


@pytest.mark.parametrize("imbalanced", [True, False])
def test_auto_class_weight_and_the_kept_epoch(imbalanced):
    x, y = _data(60)
    if imbalanced:  # class 0: 20, class 1: 20, class 2: 5
        keep = np.concatenate([np.flatnonzero(y < 2), np.flatnonzero(y == 2)[:5]])
        x, y = x[keep], y[keep]
    result = kt.fine_tune(
        _model(), x, y, head_epochs=4, epochs_per_stage=2, batch_size=8, verbose=0
    )
    report = result.report
    if imbalanced:
        counts = np.bincount(y[fine_tuning._stratified_split(y, 0.2, 0)[0]])
        expected = softened_class_weight(
            y[fine_tuning._stratified_split(y, 0.2, 0)[0]], 3
        )
        assert report["class_weight"] == pytest.approx(expected)
        assert report["class_counts"] == counts.tolist()
    else:
        assert report["class_weight"] is None
    keys = [(r["val_balanced_accuracy"], -r["val_loss"]) for r in result.history]
    assert report["kept_epoch"] == keys.index(max(keys))
    kept = result.history[report["kept_epoch"]]
    # the model holds the kept epoch's weights: its validation score is that epoch's
    assert report["validation"]["balanced_accuracy"] == pytest.approx(
        kept["val_balanced_accuracy"]
    )
    # the trainable flags are back to the frozen backbone the model came with
    assert not result.model.get_layer("backbone").trainable_weights


def test_stages_auto_takes_the_deepest_cut_of_each_resolution():
    x, y = _data()
    result = kt.fine_tune(_model(), x, y, head_epochs=1, epochs_per_stage=1, verbose=0)
    # c3 works at 4x4, c2 takes 8x8 input: one cut per resolution, deepest first
    assert [s["cut"] for s in result.report["stages"]] == ["c3", "c2"]
    assert [s["trained_groups"] for s in result.report["stages"]] == [
        ["head", "c3"],
        ["head", "c3", "c2"],
    ]


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"y": np.arange(48) % 4}, r"`y` must hold integer class indices in \[0, 3\)"),
        (
            {"validation_split": 1.0},
            r"`validation_split` must be a fraction.*Received: validation_split=1.0",
        ),
        (
            {"views": "rotations"},
            r"`views` must be one of.*Received: views='rotations'",
        ),
        ({"stages": [7]}, r"`stages` must name group counts.*Possible: \[2, 3\]"),
        (
            {"class_weight": "inverse"},
            r"`class_weight` must be.*Received: class_weight='inverse'",
        ),
        ({"head_epochs": -1}, r"`head_epochs` must be an integer >= 0"),
        (
            {"time_budget": "1h"},
            r"`time_budget` must be a number of seconds.*Received: time_budget='1h'",
        ),
    ],
)
def test_errors_name_the_argument(kwargs, match):
    x, y = _data()
    arguments = {"x": x, "y": y, "verbose": 0, **kwargs}
    with pytest.raises(ValueError, match=match):
        kt.fine_tune(_model(), **arguments)


def test_a_model_without_a_frozen_nested_backbone_is_refused():
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(3, activation="softmax")])  # fmt: skip
    x, y = _data()
    with pytest.raises(ValueError, match="frozen top-level layer"):
        kt.fine_tune(model, x, y, verbose=0)


def test_a_backbone_that_cannot_be_cut_gets_one_uncached_stage_of_everything():
    conv = keras.layers.Conv2D(4, 3, name="features")
    model = keras.Sequential([keras.Input((8, 8, 3)), conv, keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(3, activation="softmax", name="head")])  # fmt: skip
    conv.trainable = False
    before = np.asarray(conv.kernel).copy()
    x, y = _data()
    result = kt.fine_tune(model, x, y, head_epochs=1, epochs_per_stage=1, verbose=0)
    (stage,) = result.report["stages"]
    assert stage["cut"] is None and stage["cached_shape"] is None
    assert stage["trained_groups"] == ["head", "features"]
    assert np.abs(np.asarray(conv.kernel) - before).max() > 0


def test_no_stages_trains_the_head_alone():
    x, y = _data()
    model = _model()
    before = [np.asarray(w).copy() for w in model.get_layer("backbone").weights]
    result = kt.fine_tune(model, x, y, stages=[], head_epochs=2, verbose=0)
    assert {row["phase"] for row in result.history} == {"head"}
    assert result.report["stages"] == []
    for a, b in zip(model.get_layer("backbone").weights, before):
        np.testing.assert_array_equal(np.asarray(a), b)


def test_a_spent_time_budget_trains_nothing_and_says_so():
    x, y = _data()
    model = _model()
    before = [np.asarray(w).copy() for w in model.weights]
    result = kt.fine_tune(model, x, y, time_budget=0, verbose=0)
    assert result.history == [] and result.report["stages"] == []
    assert result.report["stopped_by_time_budget"] is True
    for a, b in zip(model.weights, before):
        np.testing.assert_array_equal(np.asarray(a), b)


def test_time_budget_stops_before_an_epoch_that_would_overrun(monkeypatch):
    # A fake clock: every training epoch takes 10 "seconds" (model.fit advances it).
    now = [0.0]
    monkeypatch.setattr(fine_tuning.time, "perf_counter", lambda: now[0])
    real_fit = keras.Model.fit

    def slow_fit(self, *args, **kwargs):
        now[0] += 10.0
        return real_fit(self, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", slow_fit)
    x, y = _data()
    result = kt.fine_tune(
        _model(), x, y, head_epochs=50, patience=50, time_budget=35, verbose=0
    )
    # epochs end at 10, 20, 30; a fourth would end at 40 > 35: not started
    assert [row["phase"] for row in result.history] == ["head"] * 3
    assert (
        result.report["stopped_by_time_budget"] is True
        and result.report["stages"] == []
    )


def test_every_class_with_two_samples_gets_one_validation_sample():
    y = np.array([0, 0, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2])
    train, held = fine_tuning._stratified_split(y, 0.2, 0)
    assert np.bincount(y[held]).tolist() == [1, 1, 2]
    assert sorted(np.r_[train, held].tolist()) == list(range(15))
    x, _ = _data(3)
    with pytest.raises(ValueError, match="at least two samples of some class"):
        kt.fine_tune(_model(), x, np.arange(3), verbose=0)


def test_one_pass_extraction_gives_every_cut_its_own_activations(monkeypatch):
    from keras_transfer.recipe import _cuts

    model, (x, y) = _model(), _data()
    backbone = model.get_layer("backbone")
    found = _cuts.cuts(model, backbone, x[:2])
    outputs = _cuts.lower_many(model, backbone, found).predict(x, verbose=0)
    expected = model.predict(x, verbose=0)
    for cut, out in zip(found, outputs):
        (alone,) = _cuts.lower_many(model, backbone, [cut]).predict(x, verbose=0)
        np.testing.assert_allclose(out, alone, rtol=1e-6)
        # the part above the cut turns them into the model's own outputs
        np.testing.assert_allclose(
            cut.upper.predict(out, verbose=0), expected, rtol=1e-5
        )
    # fine_tune extracts training views once for both stages: 4 views in one
    # call for the head (identity only) and one for the stages
    calls = []
    real = fine_tuning._extract
    monkeypatch.setattr(
        fine_tuning, "_extract",
        lambda lower, xs, views, *a: (calls.append((len(xs), views)), real(lower, xs, views, *a))[1],
    )  # fmt: skip
    kt.fine_tune(model, x, y, head_epochs=1, epochs_per_stage=1, verbose=0)
    train, val = 39, 9
    assert calls == [(train, "none"), (val, "none"), (train, "flips"), (val, "none")]
