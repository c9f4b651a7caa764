"""`fine_tune(backup_dir=...)`: an interrupted call, rerun, ends where an uninterrupted one does."""

import json
import os

import keras
import numpy as np
import pytest
from _tiny import tiny_data, tiny_model

import keras_transfer as kt
from keras_transfer.recipe import _backup, _scores

# head (at most 4 epochs, early stopping), then two stages of 2 epochs
DROPOUT = True
SETTINGS = dict(head_epochs=4, epochs_per_stage=2, stages=[2, 3], batch_size=8, seed=3,
                verbose=0)  # fmt: skip


def _model(seed=0, classes=3):
    return tiny_model(seed, classes, dropout=DROPOUT)


_data = tiny_data


def _weights(model):
    return [np.asarray(keras.ops.convert_to_numpy(w)) for w in model.weights]


@pytest.fixture(scope="module")
def reference():
    """The uninterrupted call (no backup)."""
    x, y = _data()
    return kt.fine_tune(_model(), x, y, **SETTINGS)


@pytest.fixture
def every_epoch(monkeypatch):
    """Every epoch saved (no throttling by the save's cost)."""
    monkeypatch.setattr(_backup, "COST_RATIO", 0.0)


def _interrupt_after(monkeypatch, method, count):
    """Patches `method` (`"save"` or `"score"`) to raise KeyboardInterrupt on call `count`."""
    owner, name = (_backup.Backup, "save") if method == "save" else (_scores, "score")
    original = getattr(owner, name)
    calls = []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if method == "score" and len(calls) == count:
            raise KeyboardInterrupt
        result = original(*args, **kwargs)
        if method == "save" and len(calls) == count:
            raise KeyboardInterrupt
        return result

    monkeypatch.setattr(owner, name, interrupted)
    return monkeypatch


def _assert_same_run(result, reference):
    assert [r["phase"] for r in result.history] == [
        r["phase"] for r in reference.history
    ]
    for row, expected in zip(result.history, reference.history):
        assert row["loss"] == pytest.approx(expected["loss"], rel=1e-5)
        assert row["val_loss"] == pytest.approx(expected["val_loss"], rel=1e-5)
    assert result.report["kept_epoch"] == reference.report["kept_epoch"]
    for a, b in zip(_weights(result.model), _weights(reference.model)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "method, count, phase",
    [
        ("save", 1, "head"),  # killed right after the first epoch's backup
        ("save", 5, "stage 1"),  # ... in the middle of stage 1
        ("score", 8, "stage 2"),  # ... inside an epoch: that epoch is done again
    ],
)
def test_an_interrupted_call_resumes_to_the_uninterrupted_result(
    tmp_path, monkeypatch, every_epoch, reference, method, count, phase
):
    x, y = _data()
    folder = tmp_path / "backup"
    with monkeypatch.context() as patch:
        _interrupt_after(patch, method, count)
        with pytest.raises(KeyboardInterrupt):
            kt.fine_tune(_model(), x, y, backup_dir=str(folder), **SETTINGS)
    state = json.loads((folder / _backup.STATE).read_text())
    assert state["phase"] == phase
    done = len(state["history"])
    result = kt.fine_tune(_model(seed=7), x, y, backup_dir=str(folder), **SETTINGS)
    assert result.report["resumed_from"]["epochs_done"] == done
    assert result.report["resumed_from"]["phase"] == phase
    _assert_same_run(result, reference)
    assert not folder.exists()  # removed on success


def test_the_head_phase_stopped_early_is_not_trained_again(
    tmp_path, monkeypatch, every_epoch
):
    x, y = _data()
    settings = {**SETTINGS, "head_epochs": 30, "patience": 1, "stages": [],
                "head_learning_rate": 1.0}  # fmt: skip
    uninterrupted = kt.fine_tune(_model(), x, y, **settings)
    epochs = len(uninterrupted.history)
    assert epochs < 30  # early stopping ended the head phase
    folder = tmp_path / "backup"
    with monkeypatch.context() as patch:
        _interrupt_after(patch, "save", epochs)  # killed after the last epoch's backup
        with pytest.raises(KeyboardInterrupt):
            kt.fine_tune(_model(), x, y, backup_dir=str(folder), **settings)
    result = kt.fine_tune(_model(), x, y, backup_dir=str(folder), **settings)
    assert len(result.history) == epochs
    assert result.report["resumed_from"]["epochs_done"] == epochs


def test_without_interruption_the_backup_changes_nothing_and_is_removed(
    tmp_path, every_epoch, reference
):
    x, y = _data()
    folder = tmp_path / "backup"
    result = kt.fine_tune(_model(), x, y, backup_dir=str(folder), **SETTINGS)
    assert result.report["resumed_from"] is None
    assert not folder.exists()
    _assert_same_run(result, reference)


def test_a_backup_of_another_run_is_refused_and_kept(
    tmp_path, monkeypatch, every_epoch
):
    x, y = _data()
    folder = tmp_path / "backup"
    with monkeypatch.context() as patch:
        _interrupt_after(patch, "save", 2)
        with pytest.raises(KeyboardInterrupt):
            kt.fine_tune(_model(), x, y, backup_dir=str(folder), **SETTINGS)
    with pytest.raises(ValueError, match="backup of another run.*HINT"):
        kt.fine_tune(_model(), x, y, backup_dir=str(folder), **{**SETTINGS, "seed": 4})
    assert (folder / _backup.STATE).exists()


def test_saves_are_skipped_while_their_cost_would_dominate(tmp_path, monkeypatch):
    monkeypatch.setattr(_backup, "COST_RATIO", 1e9)  # only the first save happens
    x, y = _data()
    folder = tmp_path / "backup"
    writes = []
    original = _backup._write_npz
    monkeypatch.setattr(
        _backup, "_write_npz", lambda *a: (writes.append(a[1]), original(*a))
    )
    kt.fine_tune(_model(), x, y, backup_dir=str(folder), **SETTINGS)
    assert writes == ["arrays-1.npz", "best-1.npz"]


def test_old_array_files_are_removed(tmp_path, monkeypatch, every_epoch):
    x, y = _data()
    folder = tmp_path / "backup"
    with monkeypatch.context() as patch:
        _interrupt_after(patch, "save", 6)
        with pytest.raises(KeyboardInterrupt):
            kt.fine_tune(_model(), x, y, backup_dir=str(folder), **SETTINGS)
    state = json.loads((folder / _backup.STATE).read_text())
    assert sorted(os.listdir(folder)) == sorted(
        {_backup.STATE, state["arrays_file"], state["best_file"]}
    )
