"""`lr_find`: the learning-rate range test (Smith, 2017), restored exactly."""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Iterator

import keras

from keras_transfer._device import backend_is
from keras_transfer._snapshot import restore, snapshot
from keras_transfer._validate import check_int

# The fewest steps (finite losses) a suggestion is made from.
_MIN_STEPS = 5


@dataclasses.dataclass(frozen=True)
class LRFindResult:
    """What `keras_transfer.lr_find` measured.

    Args:
        learning_rates: the learning rate of each step taken, in order.
        losses: the smoothed loss (bias-corrected exponential moving average
            of the per-batch losses) at each step; what `suggestion` and
            `plot` use.
        raw_losses: the loss of each batch, computed before the step at its
            learning rate was applied.
        suggestion: the suggested learning rate (see `lr_find`: the rate at
            the lowest smoothed loss over 10), or `None` if the loss never
            fell.
        stopped_early: whether the test stopped because the loss diverged.

    Example:

    >>> from keras_transfer import LRFindResult
    >>> LRFindResult([1e-3, 1e-2, 1e-1], [1.0, 0.5, 9.0], [1.0, 0.4, 9.0],
    ...              suggestion=1e-2, stopped_early=True)
    LRFindResult(3 steps, 1e-03..1e-01, suggestion=1e-02, stopped_early=True)
    """

    learning_rates: list[float]
    losses: list[float]
    raw_losses: list[float]
    suggestion: float | None
    stopped_early: bool

    def plot(self, path: str) -> str:
        """Writes the loss against the learning rate (log axis) as a PNG.

        The suggestion is marked with a dot and a vertical line. Needs
        matplotlib (`pip install "keras-transfer[demo]"`).

        Args:
            path: where to write the PNG.

        Returns:
            `path`.
        """
        try:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure
        except ImportError as error:
            raise ImportError(
                "`LRFindResult.plot` needs matplotlib. HINT: "
                'pip install "keras-transfer[demo]" (or matplotlib).'
            ) from error
        figure = Figure(figsize=(6, 4), dpi=100)
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        axes.plot(
            self.learning_rates, self.raw_losses, color="0.8", lw=1, label="batch loss"
        )
        axes.plot(self.learning_rates, self.losses, color="C0", label="smoothed")
        finite = [v for v in self.losses if math.isfinite(v)]
        if self.suggestion is not None:
            lowest = self.losses.index(min(finite))
            axes.plot(
                [self.learning_rates[lowest]],
                [finite[lowest]],
                "o",
                color="0.3",
                label="lowest smoothed loss",
            )
            axes.axvline(
                self.suggestion,
                color="C3",
                lw=1.5,
                ls="--",
                label=f"suggestion {self.suggestion:.2e}",
            )
        if finite:
            low, high = min(finite), max(finite[0], min(finite) * 4)
            axes.set_ylim(low - 0.05 * (high - low), high + 0.1 * (high - low))
        axes.set_xscale("log")
        axes.set_xlabel("learning rate")
        axes.set_ylabel("loss")
        axes.set_title("learning-rate range test")
        axes.legend(loc="best")
        figure.tight_layout()
        figure.savefig(path)
        return path

    def __repr__(self) -> str:
        if not self.learning_rates:
            return "LRFindResult(0 steps)"
        suggestion = "None" if self.suggestion is None else f"{self.suggestion:.0e}"
        return (
            f"LRFindResult({len(self.learning_rates)} steps, "
            f"{self.learning_rates[0]:.0e}..{self.learning_rates[-1]:.0e}, "
            f"suggestion={suggestion}, stopped_early={self.stopped_early})"
        )


def lr_find(
    model: keras.Model,
    x: object,
    y: object = None,
    *,
    min_lr: float = 1e-7,
    max_lr: float = 10.0,
    steps: int = 100,
    batch_size: int = 32,
    smoothing: float = 0.98,
    diverge_factor: float = 4.0,
    divisor: float = 10.0,
) -> LRFindResult:
    """Runs the learning-rate range test on a compiled model, then undoes it.

    Trains `model` as it stands (its optimizer, loss and trainable
    variables: a frozen backbone stays frozen, a `GradualUnfreeze` stage
    stays as it is) for up to `steps` batches, one batch per step, while the
    learning rate grows exponentially from `min_lr` to `max_lr`. It stops
    early when the loss is not finite or when the smoothed loss exceeds
    `diverge_factor` times its lowest value. Afterwards every variable of
    the model (weights, BatchNorm statistics, seed states) and of the
    optimizer (moments, `iterations`, the learning rate) holds exactly the
    value it held before, and so does torch's global random generator (which
    unseeded dropout uses on torch): a fit after `lr_find` is the fit
    without it. An
    optimizer that was not built yet is built first (its fresh state is what
    is restored).

    The ramp sets `model.optimizer.learning_rate`, the base rate: under
    `keras_transfer.optimizers.LayerwiseLR` every variable follows at its
    multiplier, so the suggestion is the base (head) rate. When the learning
    rate is a `LearningRateSchedule` (or a callable), it is swapped for an
    exponential ramp schedule during the test (one re-trace of the train
    function) and put back afterwards (another re-trace); the suggestion is
    then an absolute rate, e.g. for the schedule's peak.

    The suggestion is fastai's "minimum" rule: the learning rate at the
    lowest smoothed loss, divided by `divisor` (10). The lowest smoothed
    loss sits just past the edge of stability (the moving average lags the
    rise), so a tenth of it is a rate that still trains fast but stably;
    on least squares, where SGD diverges above `2 / L` (`L` the largest
    Hessian eigenvalue), it lands between `0.2 / L` and `2 / L` (tested).
    Lightning's "steepest descent" rule was measured to land 10-40x below
    `2 / L` there, so it is not used. `None` when the loss never fell.

    Args:
        model: a built, compiled Keras model.
        x: input data: an array, a backend tensor or a dict/list of them
            (with `y`), taken in order, `batch_size` at a time, never
            shuffled; or (with `y=None`) an iterable of `(x, y)` /
            `(x, y, sample_weight)` batches: a `tf.data.Dataset`, a
            `keras.utils.PyDataset`, a list; iterated again when it runs out
            before `steps`.
        y: targets for array `x`. Defaults to `None`.
        min_lr: the first learning rate, > 0. Defaults to `1e-7`.
        max_lr: the last learning rate, > `min_lr`. Defaults to `10.0`.
        steps: number of batches (learning rates) at most, >= 5.
            Defaults to `100`.
        batch_size: batch size for array `x`. Defaults to `32`.
        smoothing: weight of the past in the bias-corrected exponential
            moving average of the batch losses, in [0, 1); `0` is no
            smoothing. Defaults to `0.98` (fastai's and Lightning's).
        diverge_factor: stop when the smoothed loss exceeds this multiple of
            its lowest value, > 1. Defaults to `4.0`.
        divisor: the suggestion is the learning rate at the lowest smoothed
            loss divided by this, >= 1. Defaults to `10.0`.

    Returns:
        An `LRFindResult` with `learning_rates`, `losses` (smoothed),
        `raw_losses`, `suggestion` and `plot(path)`.

    Raises:
        ValueError: if the model is not compiled or not built, or an argument
            is out of range.

    Example:

    >>> import numpy as np
    >>> import keras
    >>> import keras_transfer as kt
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    >>> model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    >>> x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    >>> y = x @ np.array([[1.0], [-2.0], [0.5], [3.0]], "float32")
    >>> before = model.get_weights()
    >>> result = kt.lr_find(model, x, y, min_lr=1e-4, max_lr=10.0, steps=40,
    ...                     batch_size=64)
    >>> result
    LRFindResult(... steps, 1e-04..., suggestion=..., stopped_early=True)
    >>> all((a == b).all() for a, b in zip(before, model.get_weights()))
    True
    >>> round(float(model.optimizer.learning_rate), 6)  # restored
    0.01
    """
    _check_model(model)
    _check_range(min_lr, max_lr, steps, batch_size, smoothing, diverge_factor, divisor)
    optimizer = model.optimizer
    if not optimizer.built:
        optimizer.build(model.trainable_variables)
    variables = list(model.variables) + list(optimizer.variables)
    saved = snapshot(variables)
    generator = _GlobalGenerator()
    ratio = max_lr / min_lr
    rates = [min_lr * ratio ** (i / (steps - 1)) for i in range(steps)]
    schedule = _swap_schedule(model, optimizer, rates)
    raw, smoothed, used = [], [], []
    average, best, stopped = 0.0, math.inf, False
    try:
        for step, batch in enumerate(_batches(x, y, batch_size, steps)):
            if schedule is None:
                optimizer.learning_rate = rates[step]
            loss = _batch_loss(model, batch)
            used.append(rates[step])
            raw.append(loss)
            if not math.isfinite(loss):
                smoothed.append(loss)
                stopped = True
                break
            average = smoothing * average + (1 - smoothing) * loss
            smoothed.append(average / (1 - smoothing ** (step + 1)))
            best = min(best, smoothed[-1])
            if smoothed[-1] > diverge_factor * best:
                stopped = True
                break
    finally:
        if schedule is not None:
            optimizer.learning_rate = schedule
            model.make_train_function(force=True)
        restore(variables, saved)
        generator.restore()
    suggestion = _suggest(smoothed, raw, used, divisor)
    return LRFindResult(used, smoothed, raw, suggestion, stopped)


class _GlobalGenerator:
    """torch's global random state, which unseeded dropout draws from there.

    On TensorFlow and JAX, Keras's random layers draw from `SeedGenerator`
    state variables (in `model.variables`, restored with them); on torch an
    unseeded `Dropout` calls `torch.nn.functional.dropout`, which advances
    torch's global generator.
    """

    def __init__(self) -> None:
        self.state = None
        if backend_is("torch"):
            import torch

            self.state = torch.get_rng_state()

    def restore(self) -> None:
        if self.state is not None:
            import torch

            torch.set_rng_state(self.state)


class _ExponentialRamp(keras.optimizers.schedules.LearningRateSchedule):
    """`rates[step - start]`, as a schedule for optimizers that hold one."""

    def __init__(self, start: int, min_lr: float, ratio: float, steps: int):
        self.start, self.min_lr, self.ratio, self.steps = start, min_lr, ratio, steps

    def __call__(self, step: object) -> object:
        progress = keras.ops.cast(step - self.start, "float32") / (self.steps - 1)
        return self.min_lr * keras.ops.power(self.ratio, progress)

    def get_config(self) -> dict:
        return {
            "start": self.start,
            "min_lr": self.min_lr,
            "ratio": self.ratio,
            "steps": self.steps,
        }


def _swap_schedule(
    model: keras.Model, optimizer: keras.optimizers.Optimizer, rates: list[float]
) -> object:
    """Puts a ramp schedule in place of a schedule; returns the original."""
    try:
        optimizer.learning_rate = float(optimizer.learning_rate)
        return None
    except TypeError:
        pass  # a schedule: its rate is not settable
    # The ramp as a schedule reads `iterations`, which only the schedule may
    # move: the original is read back from the wrapped optimizer chain.
    original = _schedule_of(optimizer)
    start = int(keras.ops.convert_to_numpy(optimizer.iterations))
    ratio = rates[-1] / rates[0]
    optimizer.learning_rate = _ExponentialRamp(start, rates[0], ratio, len(rates))
    model.make_train_function(force=True)
    return original


def _schedule_of(optimizer: keras.optimizers.Optimizer) -> object:
    """The schedule an optimizer (or one it wraps) holds, rebuilt from its config."""
    candidate = optimizer
    while candidate is not None:
        config = candidate.get_config().get("learning_rate")
        if isinstance(config, dict):
            return keras.optimizers.schedules.deserialize(config)
        candidate = getattr(candidate, "inner_optimizer", None)
    raise TypeError(
        "`model.optimizer.learning_rate` can neither be set to a float nor "
        "read back as a `LearningRateSchedule` from the optimizer's config. "
        "Compile with a float learning rate or a serializable "
        f"`keras.optimizers.schedules` schedule. Received: optimizer={optimizer!r}"
    )


def _batch_loss(model: keras.Model, batch: tuple) -> float:
    logs = model.train_on_batch(*batch, return_dict=True)
    return float(logs["loss"])


def _batches(x: object, y: object, batch_size: int, steps: int) -> Iterator[tuple]:
    """`steps` batches of `(x, y[, sample_weight])`, cycling through the data."""
    if _is_array_data(x, y):
        size = len(keras.tree.flatten(x)[0])
        starts = itertools.cycle(range(0, size, batch_size))
        for start in itertools.islice(starts, steps):
            take = keras.tree.map_structure(
                lambda a, s=start: a[s : s + batch_size], (x, y)
            )
            yield take
        return
    taken = 0
    while taken < steps:
        before = taken
        for batch in x:
            if taken == steps:
                return
            yield tuple(batch) if isinstance(batch, (tuple, list)) else (batch,)
            taken += 1
        if taken == before:
            raise ValueError(
                "`x` yielded no batches. Pass a non-empty dataset or array. "
                f"Received: x={x!r}"
            )


def _is_array_data(x: object, y: object) -> bool:
    """Arrays (batched here) rather than an iterable of batches."""
    return y is not None or hasattr(x, "shape") or isinstance(x, dict)


def _suggest(
    losses: list[float], raw: list[float], rates: list[float], divisor: float
) -> float | None:
    finite = [i for i, v in enumerate(losses) if math.isfinite(v)]
    if len(finite) < _MIN_STEPS or min(raw[i] for i in finite) >= raw[0]:
        return None  # too short, or the loss never fell
    lowest = min(finite, key=lambda i: losses[i])
    return rates[lowest] / divisor if lowest else None


def _check_model(model: keras.Model) -> None:
    if not isinstance(model, keras.Model):
        raise TypeError(
            "`model` must be a compiled `keras.Model`. "
            f"Received: model of type {type(model).__name__}"
        )
    if getattr(model, "optimizer", None) is None or not model.compiled:
        raise ValueError(
            "`model` must be compiled (with an optimizer and a loss) before "
            f"`lr_find`. Call `model.compile(...)` first. Received: model={model.name!r}"
        )
    if not model.built:
        raise ValueError(
            "`model` must be built before `lr_find`, so that its weights can be "
            "restored afterwards. Give it an `Input` or call it on a batch. "
            f"Received: model={model.name!r} (built=False)"
        )


def _check_range(
    min_lr: float,
    max_lr: float,
    steps: int,
    batch_size: int,
    smoothing: float,
    diverge_factor: float,
    divisor: float,
) -> None:
    if not (isinstance(min_lr, (int, float)) and min_lr > 0):
        raise ValueError(f"`min_lr` must be a number > 0. Received: min_lr={min_lr!r}")
    if not (isinstance(max_lr, (int, float)) and max_lr > min_lr):
        raise ValueError(
            "`max_lr` must be a number > `min_lr`. "
            f"Received: max_lr={max_lr!r} (min_lr={min_lr!r})"
        )
    check_int("steps", steps, _MIN_STEPS)
    check_int("batch_size", batch_size, 1)
    if not (isinstance(smoothing, (int, float)) and 0 <= smoothing < 1):
        raise ValueError(
            f"`smoothing` must be in [0, 1). Received: smoothing={smoothing!r}"
        )
    if not (isinstance(divisor, (int, float)) and divisor >= 1):
        raise ValueError(
            f"`divisor` must be a number >= 1. Received: divisor={divisor!r}"
        )
    if not (isinstance(diverge_factor, (int, float)) and diverge_factor > 1):
        raise ValueError(
            "`diverge_factor` must be a number > 1. "
            f"Received: diverge_factor={diverge_factor!r}"
        )
