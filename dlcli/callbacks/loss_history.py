"""The loss after every training batch, saved with the run (seed 003's LossHistory).

Keras 3 logs the epoch's running mean after each batch, where Keras 2 logged
the batch's own loss. Both are kept: `loss` as Keras logs it and `batch_loss`,
recovered from consecutive means (Keras weights its running mean by batch size).
`<filename>` (CSV: epoch, batch, loss, batch_loss) is rewritten after each epoch.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import keras
import numpy as np

from dlcli.runs.rundir import write_text


@keras.saving.register_keras_serializable(package="dlcli")
class LossHistory(keras.callbacks.Callback):
    # It only appends, so Keras may call it off the training thread and need not wait for each step.
    async_safe = True

    def __init__(self, filename: str = "loss_history.csv"):
        super().__init__()
        self.filename = Path(filename)
        self.rows: list[list[float]] = []  # [epoch, batch, loss, batch_loss], 1-based epoch and batch
        self._epoch: list[tuple[int, float]] = []

    def get_config(self) -> dict:
        return {"filename": str(self.filename)}

    def attach(self, run) -> None:
        self.samples, self.batch_size = len(run.train), run.batch_size

    @property
    def losses(self) -> list[float]:
        """Seed 003's `history.losses`: every batch's loss, in order."""
        return [row[3] for row in self.rows]

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = []

    def on_train_batch_end(self, batch, logs=None):
        self._epoch.append((batch, (logs or {}).get("loss")))

    def on_epoch_end(self, epoch, logs=None):
        seen, previous = 0, 0.0
        rows = [r for r in self.rows if r[0] <= epoch]  # a resumed epoch replaces what a killed run left
        for batch, mean in sorted(self._epoch):
            size = min(self.batch_size, self.samples - seen)
            total = mean * (seen + size)
            rows.append([epoch + 1, batch + 1, mean, (total - previous) / size])
            seen, previous = seen + size, total
        self.rows = rows
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["epoch", "batch", "loss", "batch_loss"])
        writer.writerows(self.rows)
        write_text(self.filename, buffer.getvalue())

    def get_state(self) -> dict:
        return {"rows": np.asarray(self.rows, dtype="float64").reshape(-1, 4)}

    def set_state(self, state: dict) -> None:
        self.rows = [[int(e), int(b), loss, batch_loss] for e, b, loss, batch_loss in state["rows"].tolist()]
