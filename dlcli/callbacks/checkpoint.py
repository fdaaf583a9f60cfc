"""Best and last checkpoints, each written to a temporary name and renamed into place.

Keras' ModelCheckpoint writes straight to its target, so a run killed while
saving could leave a half-written `last.keras`; this one cannot.
"""

from __future__ import annotations

import math
from pathlib import Path

import keras

from dlcli.runs.rundir import atomic_write


class AtomicCheckpoint(keras.callbacks.Callback):
    def __init__(self, path: str | Path, monitor: str | None = None, mode: str = "min"):
        super().__init__()
        self.path, self.monitor, self.mode = Path(path), monitor, mode
        self.best = math.inf if mode == "min" else -math.inf

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor is not None:
            value = (logs or {}).get(self.monitor)
            if value is None or math.isnan(float(value)):
                return
            value = float(value)
            if (value >= self.best) if self.mode == "min" else (value <= self.best):
                return
            self.best = value
        with atomic_write(self.path) as tmp:
            self.model.save(tmp)
