"""Best and last checkpoints, written when training ends (or is interrupted).

Saving a `.keras` file takes tens of milliseconds, a large share of a short
epoch, and on a small machine a background writer only competes with the
training loop for the GIL and the cores. So the best epoch's state is kept
as a host-memory copy (well under a millisecond; a copy, not a reference:
Keras donates the JAX buffers to the next train step) and both files are
written once, atomically, at the end. Crash recovery is resume's job.
"""

from __future__ import annotations

import math
from pathlib import Path

import keras
import numpy as np

from dlcli.runs.rundir import atomic_write


def _state(model) -> list:
    return model.variables + (model.optimizer.variables if model.optimizer else [])


def snapshot(model) -> list[np.ndarray]:
    return [np.array(v.value) for v in _state(model)]


def save_snapshot(model, values: list[np.ndarray], path: Path) -> None:
    """Save `model` as it was when `values` were taken, then put its current state back."""
    variables = _state(model)
    current = snapshot(model)
    for variable, value in zip(variables, values):
        variable.assign(value)
    try:
        save(model, path)
    finally:
        for variable, value in zip(variables, current):
            variable.assign(value)


def save(model, path: Path) -> None:
    with atomic_write(path) as tmp:
        model.save(tmp)


class Checkpoints(keras.callbacks.Callback):
    """`checkpoints/best.keras` (by `monitor`) and `checkpoints/last.keras`."""

    def __init__(self, directory: str | Path, monitor: str = "val_loss", mode: str = "min"):
        super().__init__()
        self.directory, self.monitor, self.mode = Path(directory), monitor, mode
        self.best = math.inf if mode == "min" else -math.inf
        self._best_state: list[np.ndarray] | None = None

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None or math.isnan(float(value)):
            return
        if float(value) < self.best if self.mode == "min" else float(value) > self.best:
            self.best = float(value)
            self._best_state = snapshot(self.model)

    def on_train_end(self, logs=None):
        self.flush()

    def flush(self) -> None:
        """Write both files; also called when training is interrupted."""
        if self.model is None:
            return
        save(self.model, self.directory / "last.keras")
        if self._best_state is not None:
            save_snapshot(self.model, self._best_state, self.directory / "best.keras")


class StopOnNaN(keras.callbacks.Callback):
    """Stop when the epoch's loss is not finite. Checked per epoch, not per batch:
    reading a batch's loss would make every step wait for JAX (see bench/)."""

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.model.stop_training = True
