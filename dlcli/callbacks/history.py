"""history.csv, rewritten atomically after every epoch so a killed run keeps what it did."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import keras

from dlcli.runs.rundir import write_text


class HistoryWriter(keras.callbacks.Callback):
    def __init__(self, path: str | Path, rows: list[dict] | None = None):
        super().__init__()
        self.path = Path(path)
        self.rows: list[dict] = list(rows or [])

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}}
        self.rows = [r for r in self.rows if int(r["epoch"]) < epoch + 1] + [row]
        keys = list(dict.fromkeys(k for r in self.rows for k in r))
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=keys)
        writer.writeheader()
        writer.writerows(self.rows)
        write_text(self.path, buffer.getvalue())
