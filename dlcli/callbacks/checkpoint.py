"""checkpoints/best.keras and checkpoints/last.keras, written atomically when training ends.

Writing a .keras file takes several times longer than the snapshot the run
state already saves every epoch (see dlcli.callbacks.run_state), and a per-epoch write
would show in the epoch time. So the best epoch's weights are kept in memory
(and in the run state, for `--resume`) and both files are written once, when
`fit` ends; each goes to a temporary name and is renamed into place, so a
killed run never leaves a half-written one.
"""

from __future__ import annotations

import math
from pathlib import Path

import keras

from dlcli.runs.rundir import atomic_write


def save(model, path: Path) -> None:
    with atomic_write(path) as tmp:
        model.save(tmp)


class BestCheckpoint(keras.callbacks.Callback):
    def __init__(self, path: str | Path, monitor: str, mode: str = "min"):
        super().__init__()
        self.path, self.monitor, self.mode = Path(path), monitor, mode
        self.best = math.inf if mode == "min" else -math.inf
        self.weights: list | None = None

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None or math.isnan(float(value)):
            return
        if (float(value) < self.best) if self.mode == "min" else (float(value) > self.best):
            self.best, self.weights = float(value), self.model.get_weights()

    def on_train_end(self, logs=None):
        if self.weights is None:
            return
        current = self.model.get_weights()
        self.model.set_weights(self.weights)
        save(self.model, self.path)
        self.model.set_weights(current)

    def get_state(self) -> dict:
        return {"best": self.best, "weights": self.weights}

    def set_state(self, state: dict) -> None:
        self.best, self.weights = state["best"], state["weights"]


class LastCheckpoint(keras.callbacks.Callback):
    """The weights after the last epoch: it must run before callbacks that restore other weights at train end."""

    def __init__(self, path: str | Path):
        super().__init__()
        self.path = Path(path)

    def on_train_end(self, logs=None):
        save(self.model, self.path)
