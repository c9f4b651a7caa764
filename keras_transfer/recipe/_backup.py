"""Private: `fine_tune`'s backup folder, written after epochs, read back to resume.

The folder holds `state.json` (where the run is: phase, epochs done in it,
the early-stopping counters, the history so far, the best epoch's key, the
stage reports, the NumPy generator's state, a fingerprint of the data and
settings) and two array files it names: the current values of the model's
variables and of the optimizer's (`arrays-N.npz`), and the best epoch's
values (`best-N.npz`, rewritten only when the best epoch changes). Every file
is written under a temporary name and renamed into place (`os.replace`), the
state last: a run killed at any instant leaves the previous complete state.

Resuming puts the model's variables back at once (the values a rerun's model
starts from do not matter), replays the phase the state is in from its start
(its features are extracted again, its model compiled again), then puts back
the variables again,
the optimizer's variables (Adam's moments, the step count that drives the
schedule) and the generator, and trains the epochs that remain: the epochs
computed are those of an uninterrupted run. Phases before it are skipped.

A save costs a copy of the weights to disk; it is skipped when less than
`COST_RATIO` times its last duration has passed since it ended, so cheap
epochs (the head on cached features) pay at most ~1/`COST_RATIO` extra time
and an interruption loses at most that much work, plus the current epoch.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time

import keras
import numpy as np

from keras_transfer import _snapshot

STATE = "state.json"
VERSION = 1
COST_RATIO = 10.0
# `fine_tune` arguments outside the fingerprint: the data (hashed as arrays),
# what does not change the epochs computed, and the backup folder itself.
UNSAVED = ("model", "x", "y", "validation_data", "verbose", "time_budget", "backup_dir")


def fingerprint(model: keras.Model, arrays: tuple, settings: dict) -> str:
    """A digest of the training data, the model's variables and the settings.

    A backup resumes only the run that wrote it: other images, labels, split,
    architecture, precision or recipe settings give another digest.
    """
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(array.data)
    # shapes and dtypes, not paths: a model built again in the same session
    # gets new automatic layer names
    shapes = [(tuple(v.shape), str(v.dtype)) for v in model.variables]
    digest.update(json.dumps(shapes).encode())
    digest.update(json.dumps(settings, sort_keys=True, default=repr).encode())
    return digest.hexdigest()


def _order(phase: str) -> int:
    """ "head" -> 0, "stage k" -> k: the order phases run in."""
    return 0 if phase == "head" else int(phase.split()[-1])


def _write_npz(directory: str, name: str, values: list) -> None:
    temporary = os.path.join(directory, f".{name}.tmp")
    with open(temporary, "wb") as file:
        np.savez(file, *values)
    os.replace(temporary, os.path.join(directory, name))


def _read_npz(path: str) -> list:
    with np.load(path) as stored:
        return [stored[f"arr_{i}"] for i in range(len(stored.files))]


class Backup:
    """The backup of one `fine_tune` call; holds references to its live state.

    Args:
        directory: the backup folder (created at the first save).
        model: the model being fine-tuned.
        rng: the generator of the epoch orders and views.
        history: the history list (extended in place on resume).
        best: the best-epoch dict of `fine_tune` (updated in place on resume).
        report: the report dict (its `stages` and `head_extraction_seconds`
            come back on resume).
        digest: `fingerprint(...)` of this run.
    """

    def __init__(
        self, directory: str, model: keras.Model, rng: np.random.Generator,
        history: list, best: dict, report: dict, digest: str,
    ) -> None:  # fmt: skip
        self.directory, self.model, self.rng = os.fspath(directory), model, rng
        self.history, self.best, self.report, self.digest = (
            history,
            best,
            report,
            digest,
        )
        self.resumed_from = None
        self._state = None  # the loaded state until its phase starts
        self._values = None  # its arrays: the model's then the optimizer's values
        self._files = {"arrays": None, "best": None, "best_epoch": None}
        self._counter = 0
        self._last_end, self._last_cost = -np.inf, 0.0

    def load(self) -> bool:
        """Reads a backup left by an interrupted run; False when there is none.

        Raises:
            ValueError: when the folder holds the backup of another run (other
                data, model or settings).
        """
        path = os.path.join(self.directory, STATE)
        if not os.path.exists(path):
            return False
        with open(path) as file:
            state = json.load(file)
        if state.get("version") != VERSION or state.get("fingerprint") != self.digest:
            raise ValueError(
                f"`backup_dir` holds the backup of another run (other data, model or "
                f"settings; {len(state.get('history', []))} epoch(s) done). HINT: rerun "
                "with the same data and arguments to resume it, or delete the folder "
                f"to start over. Received: backup_dir={self.directory!r}"
            )
        self.history.extend(state["history"])
        if state["best_file"] is not None:
            values = _read_npz(os.path.join(self.directory, state["best_file"]))
            self.best.update(key=tuple(state["best"]["key"]), epoch=state["best"]["epoch"],
                             phase=state["best"]["phase"], values=values)  # fmt: skip
        self.report["stages"] = state["stages"]
        self.report["head_extraction_seconds"] = state["head_extraction_seconds"]
        self._files = {"arrays": state["arrays_file"], "best": state["best_file"],
                       "best_epoch": state["best"] and state["best"]["epoch"]}  # fmt: skip
        self._counter = state["counter"]
        self._state = state
        # the weights first, before any features are extracted from them
        self._values = _read_npz(os.path.join(self.directory, state["arrays_file"]))
        _snapshot.restore(
            self.model.variables, self._values[: len(self.model.variables)]
        )
        self.resumed_from = {
            "phase": state["phase"], "phase_epoch": state["epoch"],
            "epochs_done": len(state["history"]), "directory": self.directory,
        }  # fmt: skip
        return True

    def skips(self, phase: str) -> bool:
        """Whether `phase` ended before the backup was written (not run again)."""
        return self._state is not None and _order(phase) < _order(self._state["phase"])

    def resume(
        self, phase: str, trainable: keras.Model
    ) -> tuple[int, int, float, float]:
        """At the start of `phase`'s epochs: `(first epoch, stale, lowest, last)`.

        In the phase the backup was written in, puts back the model's and the
        optimizer's variables and the generator's state; elsewhere the
        counters of a fresh phase.
        """
        state = self._state
        if state is None or state["phase"] != phase:
            return 0, 0, np.inf, 0.0
        values, self._state, self._values = self._values, None, None
        count = len(self.model.variables)
        _snapshot.restore(self.model.variables, values[:count])
        optimizer = trainable.optimizer
        if not optimizer.built:
            optimizer.build(trainable.trainable_variables)
        _snapshot.restore(optimizer.variables, values[count:])
        self.rng.bit_generator.state = state["rng"]
        return state["epoch"], state["stale"], state["lowest"], state["last"]

    def save(
        self, phase: str, epoch: int, stale: int, lowest: float, last: float,
        optimizer: keras.optimizers.Optimizer,
    ) -> None:  # fmt: skip
        """Writes the state after `epoch` epochs of `phase` (see the module docstring)."""
        begin = time.perf_counter()
        if begin - self._last_end < COST_RATIO * self._last_cost:
            return
        os.makedirs(self.directory, exist_ok=True)
        self._counter += 1
        old = dict(self._files)
        arrays = f"arrays-{self._counter}.npz"
        _write_npz(self.directory, arrays,
                   _snapshot.snapshot(self.model.variables)
                   + _snapshot.snapshot(optimizer.variables))  # fmt: skip
        best_file = old["best"]
        if "values" in self.best and self.best["epoch"] != old["best_epoch"]:
            best_file = f"best-{self._counter}.npz"
            _write_npz(self.directory, best_file, self.best["values"])
        has_best = "values" in self.best
        state = {
            "version": VERSION, "fingerprint": self.digest, "counter": self._counter,
            "phase": phase, "epoch": epoch, "stale": stale, "lowest": float(lowest),
            "last": last, "rng": self.rng.bit_generator.state, "history": self.history,
            "best": {"key": list(self.best["key"]), "epoch": self.best["epoch"],
                     "phase": self.best["phase"]} if has_best else None,
            "best_file": best_file if has_best else None, "arrays_file": arrays,
            "stages": self.report["stages"],
            "head_extraction_seconds": self.report.get("head_extraction_seconds", 0.0),
        }  # fmt: skip
        temporary = os.path.join(self.directory, f".{STATE}.tmp")
        with open(temporary, "w") as file:
            json.dump(state, file)
        os.replace(temporary, os.path.join(self.directory, STATE))
        self._files = {"arrays": arrays, "best": state["best_file"],
                       "best_epoch": self.best.get("epoch")}  # fmt: skip
        for name in (old["arrays"], old["best"]):
            if name is not None and name not in (arrays, best_file):
                _remove(os.path.join(self.directory, name))
        self._last_end = time.perf_counter()
        self._last_cost = self._last_end - begin

    def remove(self) -> None:
        """Deletes the backup folder (the run it protected has finished)."""
        shutil.rmtree(self.directory, ignore_errors=True)


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
