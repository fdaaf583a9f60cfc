"""Rich progress: one bar per epoch with loss/metrics and ETA.

Reading a metric forces JAX to finish the step, so the bar is redrawn at most
a few times a second, and it is `async_safe`: Keras then calls its batch hook
on a worker thread and the training loop never waits for it (see bench/).
"""

from __future__ import annotations

import time

import keras
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


def _fmt(logs: dict) -> str:
    return "  ".join(f"{k} {float(v):.4f}" for k, v in logs.items() if k != "learning_rate")


class RichProgress(keras.callbacks.Callback):
    async_safe = True

    def __init__(self, console: Console | None = None, refresh: float = 0.25):
        super().__init__()
        self.console = console or Console(stderr=True)
        self.refresh = refresh
        self._progress: Progress | None = None

    def on_train_begin(self, logs=None):
        self._epochs = self.params.get("epochs", 1)
        self._steps = self.params.get("steps")
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[metrics]}"),
            console=self.console,
            transient=False,
            auto_refresh=False,
        )
        self._progress.start()

    def on_epoch_begin(self, epoch, logs=None):
        self._task = self._progress.add_task(f"epoch {epoch + 1}/{self._epochs}", total=self._steps, metrics="")
        self._last, self._done = 0.0, 0

    def on_train_batch_end(self, batch, logs=None):
        now = time.monotonic()
        self._done = max(self._done, batch + 1)  # worker threads may finish out of order
        if now - self._last < self.refresh:
            return
        self._last = now
        self._progress.update(self._task, completed=self._done, metrics=_fmt(logs or {}))
        self._progress.refresh()

    def on_epoch_end(self, epoch, logs=None):
        self._progress.update(self._task, completed=self._steps or 1, total=self._steps or 1, metrics=_fmt(logs or {}))
        self._progress.refresh()

    def on_train_end(self, logs=None):
        if self._progress is not None:
            self._progress.stop()
