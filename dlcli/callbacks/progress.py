"""Rich progress: a live bar for the running epoch (loss/metrics, ETA), then one
full line per finished epoch, which also is all that non-terminals (CI logs) get.

Reading a metric forces JAX to finish the step, so the bar reads the logs at
most a few times a second rather than after every batch: the display must not
slow training (see bench/).
"""

from __future__ import annotations

import time

import keras
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


def _fmt(logs: dict) -> str:
    return "  ".join(f"{k} {float(v):.4f}" for k, v in logs.items() if k != "learning_rate")


class RichProgress(keras.callbacks.Callback):
    # Keras may then call the batch hook from a worker thread, so the training
    # loop never waits for the display.
    async_safe = True

    def __init__(self, console: Console | None = None, refresh: float = 0.25):
        super().__init__()
        self.console = console or Console(stderr=True, markup=False, emoji=False)
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
            TextColumn("{task.fields[metrics]}", markup=False),  # metric names are the user's
            console=self.console,
            transient=True,
            auto_refresh=False,
        )
        self._progress.start()

    def on_epoch_begin(self, epoch, logs=None):
        self._task = self._progress.add_task(f"epoch {epoch + 1}/{self._epochs}", total=self._steps, metrics="")
        self._last = 0.0
        self._started = time.monotonic()

    def on_train_batch_end(self, batch, logs=None):
        now = time.monotonic()
        if now - self._last < self.refresh:
            return
        self._last = now
        self._progress.update(self._task, completed=batch + 1, metrics=_fmt(logs or {}))
        self._progress.refresh()

    def on_epoch_end(self, epoch, logs=None):
        self._progress.remove_task(self._task)
        seconds = time.monotonic() - self._started
        self._progress.console.print(
            f"[bold]epoch {epoch + 1}/{self._epochs}[/]  {seconds:.1f}s  {escape(_fmt(logs or {}))}",
            markup=True,
            emoji=False,
            soft_wrap=True,
            highlight=False,
        )
        self._progress.refresh()

    def on_train_end(self, logs=None):
        if self._progress is not None:
            self._progress.stop()
