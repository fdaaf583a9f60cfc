"""history.csv, rewritten atomically after every epoch so a killed run keeps what it did.

Its rows are part of a run's resumable state, so a resumed run's history.csv
(and its curves and final metrics) cover every epoch, each once.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import keras

from dlcli.runs.rundir import write_text


class HistoryWriter(keras.callbacks.Callback):
    def __init__(self, path: str | Path):
        super().__init__()
        self.path = Path(path)
        self.rows: list[dict] = []

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}}
        self.rows = [r for r in self.rows if int(r["epoch"]) < epoch + 1] + [row]
        keys = list(dict.fromkeys(k for r in self.rows for k in r))
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=keys)
        writer.writeheader()
        writer.writerows(self.rows)
        write_text(self.path, buffer.getvalue())

    def history(self) -> dict[str, list[float]]:
        """Like Keras' `History.history`, over every epoch of the run (resumed ones included)."""
        keys = list(dict.fromkeys(k for r in self.rows for k in r if k != "epoch"))
        return {k: [r.get(k, float("nan")) for r in self.rows] for k in keys}

    def get_state(self) -> dict:
        return {"rows": self.rows}

    def set_state(self, state: dict) -> None:
        self.rows = [dict(r) for r in state["rows"]]
