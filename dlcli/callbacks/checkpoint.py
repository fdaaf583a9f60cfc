"""Best and last checkpoints, written off the training thread and atomically.

Saving a `.keras` file takes tens of milliseconds, a large share of a short
epoch. Copying the variables to host memory takes well under one (a copy, not
a reference: Keras donates the JAX buffers to the next train step). The copy
goes into a *shadow* of the model (same config, compiled alike) that a
background thread saves while training goes on. The file is written to a temporary name and renamed into place, so a
run killed while saving never leaves a half-written checkpoint.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path

import keras
import numpy as np

from dlcli.runs.rundir import atomic_write


class _Shadow:
    """A twin of the model that holds a snapshot and saves it in the background."""

    def __init__(self, model: keras.Model):
        self.model = model
        self.twin = keras.models.clone_model(model)
        self.twin.compile_from_config(model.get_compile_config())
        self.twin.optimizer.build(self.twin.trainable_variables)
        self._thread: threading.Thread | None = None

    def save(self, path: Path) -> None:
        self.wait()
        self._copy(self.model.variables, self.twin.variables)
        self._copy(self.model.optimizer.variables, self.twin.optimizer.variables)
        self._thread = threading.Thread(target=self._write, args=(path,), daemon=True)
        self._thread.start()

    def _write(self, path: Path) -> None:
        with atomic_write(path) as tmp:
            self.twin.save(tmp)

    def wait(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    @staticmethod
    def _copy(source, target) -> None:
        for src, dst in zip(source, target):
            dst.assign(np.array(src.value))


class Checkpoints(keras.callbacks.Callback):
    """`best.keras` (by `monitor`) and `last.keras`, refreshed every epoch."""

    def __init__(self, directory: str | Path, monitor: str = "val_loss", mode: str = "min"):
        super().__init__()
        self.directory, self.monitor, self.mode = Path(directory), monitor, mode
        self.best = math.inf if mode == "min" else -math.inf
        self._best_shadow: _Shadow | None = None
        self._last_shadow: _Shadow | None = None

    def on_train_begin(self, logs=None):
        self._best_shadow, self._last_shadow = _Shadow(self.model), _Shadow(self.model)

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is not None and not math.isnan(float(value)):
            improved = float(value) < self.best if self.mode == "min" else float(value) > self.best
            if improved:
                self.best = float(value)
                self._best_shadow.save(self.directory / "best.keras")
        self._last_shadow.save(self.directory / "last.keras")

    def on_train_end(self, logs=None):
        self.flush()

    def flush(self) -> None:
        """Wait for writes in flight (also called when training is interrupted)."""
        for shadow in (self._best_shadow, self._last_shadow):
            if shadow is not None:
                shadow.wait()


class StopOnNaN(keras.callbacks.Callback):
    """Stop when the epoch's loss is not finite. Checked per epoch, not per batch:
    reading a batch's loss would make every step wait for JAX (see bench/)."""

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.model.stop_training = True
