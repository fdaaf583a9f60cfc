"""Rich views of what runs report: the live epoch bar, the final metrics, K-fold's table.

`RichObserver` renders a run's events (dlcli.lifecycle.Observer): a live bar
for the running epoch (loss and metrics, ETA), then one full line per
finished epoch, which also is all that non-terminals (CI logs) get. Reading
a metric forces JAX to finish the step, so the bar reads the logs at most a
few times a second rather than after every step: the display must not slow
training (see bench/).
"""

from __future__ import annotations

import time

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from dlcli.lifecycle import Observer


def _fmt(logs: dict) -> str:
    return "  ".join(f"{k} {float(v):.4f}" for k, v in logs.items() if k != "learning_rate")


class QuietObserver(Observer):
    """--quiet: no progress; notes still reach the user, each once (K-fold's folds repeat theirs)."""

    def __init__(self, console: Console):
        self.console = console
        self.said: set[str] = set()

    def note(self, text: str) -> None:
        if text not in self.said:
            self.said.add(text)
            self.console.print(f"[yellow]note:[/] {escape(text)}", markup=True, soft_wrap=True, highlight=False)

    def fold_kept(self, index: int, k: int) -> None:
        self.console.print(f"fold {index}/{k}: finished earlier, kept", highlight=False)

    def fold_done(self, index: int, k: int, metrics: dict) -> None:
        shown = ", ".join(f"{name} {value:.4f}" for name, value in metrics.get("val", {}).items())
        self.console.print(f"fold {index}/{k}: val {shown}", highlight=False, markup=False)


class RichObserver(QuietObserver):
    batches = True

    def __init__(self, console: Console, refresh: float = 0.25):
        super().__init__(console)
        self.refresh = refresh
        self._progress: Progress | None = None

    def train_begin(self, epochs: int, steps: int | None) -> None:
        self._epochs, self._steps = epochs, steps
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[metrics]}", markup=False),
            console=self.console,
            transient=True,
            auto_refresh=False,
        )
        self._progress.start()

    def epoch_begin(self, epoch: int) -> None:
        self._task = self._progress.add_task(f"epoch {epoch}/{self._epochs}", total=self._steps, metrics="")
        self._last = 0.0

    def batch_end(self, step: int, logs: dict) -> None:
        now = time.monotonic()
        if now - self._last < self.refresh:
            return
        self._last = now
        self._progress.update(self._task, completed=step, metrics=_fmt(logs))
        self._progress.refresh()

    def epoch_end(self, epoch: int, seconds: float, logs: dict) -> None:
        self._progress.remove_task(self._task)
        self._progress.console.print(
            f"[bold]epoch {epoch}/{self._epochs}[/]  {seconds:.1f}s  {escape(_fmt(logs))}",
            markup=True,
            soft_wrap=True,
            highlight=False,
        )
        self._progress.refresh()

    def train_end(self) -> None:
        if self._progress is not None:
            self._progress.stop()


def metrics_table(metrics: dict[str, dict[str, float]]) -> Table:
    table = Table(title="final metrics", title_justify="left")
    table.add_column("split")
    names = list(dict.fromkeys(k for split in metrics.values() for k in split))
    for name in names:
        table.add_column(name, justify="right")
    for split, values in metrics.items():
        table.add_row(split, *(f"{values[n]:.4f}" if n in values else "" for n in names))
    return table


def kfold_table(result) -> Table:
    """Rows: split and metric; columns: each fold, then mean ± std."""
    k = len(result.folds)
    out = Table(title=f"{k}-fold cross-validation", title_justify="left")
    out.add_column("split")
    out.add_column("metric")
    for i in range(1, k + 1):
        out.add_column(f"fold {i}", justify="right")
    out.add_column("mean ± std", justify="right")
    for split, metrics in result.mean.items():
        for name, mean in metrics.items():
            cells = [f"{f[split][name]:.4f}" if name in f.get(split, {}) else "" for f in result.folds]
            out.add_row(split, name, *cells, f"{mean:.4f} ± {result.std[split][name]:.4f}")
    return out
