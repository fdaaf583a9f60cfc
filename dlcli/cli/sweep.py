"""dlcli sweep recipe=NAME a=1,2 b=interval(0,1) ... [--search --trials --jobs --prune] | --resume SWEEP | --join SWEEP

Also `dlcli train -m ...` (Hydra's multirun: the grid) and the hidden `dlcli sweep-trial`, which a
`--jobs` sweep starts once per trial.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from dlcli.cli._common import ConfigDirs, Overrides, State, dirs, err, out, user_errors

NAME = "sweep"
HELP = "Run a grid or an Optuna search over a recipe's keys (Hydra's sweep grammar); --resume continues one."
TRIAL = "sweep-trial"


def command(
    overrides: Overrides = None,
    search: Annotated[
        Optional[str],
        typer.Option(help="grid (every combination; the default without intervals), tpe or random", show_default=False),
    ] = None,
    trials: Annotated[
        Optional[int], typer.Option(help="a search's total budget of trials (default 20)", show_default=False)
    ] = None,
    metric: Annotated[
        Optional[str],
        typer.Option(
            help="what the sweep optimises, as Keras logs it (val_accuracy); default: the recipe's monitored metric, else val_loss",
            show_default=False,
        ),
    ] = None,
    direction: Annotated[
        Optional[str], typer.Option(help="max or min (default: max for accuracy-like metrics)", show_default=False)
    ] = None,
    prune: Annotated[
        Optional[str],
        typer.Option(
            help="stop poor trials early: median (a search's default), hyperband or none (a grid's)", show_default=False
        ),
    ] = None,
    jobs: Annotated[int, typer.Option(help="trials at once, each in a fresh worker process")] = 1,
    storage: Annotated[
        Optional[str],
        typer.Option(
            help="keep the study in a shared store: a journal file on a shared filesystem, or an RDB URL (postgresql://...)",
            show_default=False,
        ),
    ] = None,
    resume: Annotated[
        Optional[str],
        typer.Option(help="continue a sweep (its directory, or latest): finished trials are kept", show_default=False),
    ] = None,
    join: Annotated[
        Optional[str],
        typer.Option(
            help="add this machine's workers to a sweep's shared study (its directory, journal file or RDB URL)",
            show_default=False,
        ),
    ] = None,
    config_dir: ConfigDirs = None,
    runs_dir: Annotated[
        Optional[Path], typer.Option("--runs-dir", help="where the sweep and its runs go (run.dir)", show_default=False)
    ] = None,
) -> None:
    with user_errors():
        from dlcli.config import split_recipe
        from dlcli.drivers import sweep as sweeping
        from dlcli.errors import ConfigError, Problem

        if jobs < 1:
            raise ConfigError(Problem("--jobs", f"expected at least 1, got {jobs}"))
        if resume is not None and join is not None:
            raise ConfigError(
                Problem("--join", "--resume and --join each continue a sweep: give one", "drop --join or --resume")
            )
        given = resume or join
        if given is not None:
            key = "--resume" if resume else "--join"
            named = {"--search": search, "--metric": metric, "--direction": direction, "--storage": storage}
            named.update({"--prune": prune, "--trials": trials if join else None})
            kept = [name for name, value in named.items() if value] or (["overrides"] if overrides else [])
            if kept:
                raise ConfigError(
                    Problem(
                        key,
                        f"a sweep continues as it was created: its recipe, overrides and options are kept ({kept[0]} given)",
                        "drop them (only --jobs may change, and --trials with --resume: a search's new total budget)",
                    )
                )
            sweep = sweeping.find(resume, runs_dir) if resume else sweeping.join(join, runs_dir)
            if trials is not None:
                sweeping.extend(sweep, trials)
        else:
            recipe, rest = split_recipe(list(overrides or []))
            plan = sweeping.Plan(
                recipe, rest, dirs(config_dir), runs_dir, search, trials, metric, _direction(direction), prune, storage
            )
            sweep = sweeping.create(plan)
        execute(sweep, jobs)


def grid(overrides: list[str], config_dir, runs_dir: Path | None, single: bool = False) -> None:
    """`dlcli train -m ...`: Hydra's multirun, the grid of every combination (`single`: --smoke or
    --resume was given too, which make one run)."""
    from dlcli.config import split_recipe
    from dlcli.drivers import sweep as sweeping
    from dlcli.errors import ConfigError, Problem

    if single:
        raise ConfigError(Problem("-m", "--smoke and --resume make one run; -m makes one per combination", "drop one"))
    recipe, rest = split_recipe(overrides)
    plan = sweeping.Plan(recipe, rest, dirs(config_dir), runs_dir, search="grid")
    execute(sweeping.create(plan), 1)


def execute(sweep, jobs: int) -> None:
    from dlcli import interrupt
    from dlcli.drivers import sweep as sweeping
    from dlcli.errors import Interrupted, Problem, RunFailed

    goal = "maximize" if sweep.maximize else "minimize"
    err.print(f"sweep: {sweep.dir} ({goal} {sweep.spec['metric']})", highlight=False, soft_wrap=True, markup=False)
    view = SweepView(sweep.spec["metric"], sweep.maximize)
    try:
        result = sweeping.run(sweep, view, jobs)
    finally:
        view.stop()
    if interrupt.requested():
        raise Interrupted(Problem("", f"interrupted after the sweep finished: {result.dir} is complete"))
    out.print(table(result.rows, result.metric, sweep.maximize, title="trials"))
    for row in result.rows:
        if row.state == "failed":
            out.print(f"trial {row.number} failed: {row.error}", highlight=False, soft_wrap=True)
    if result.best is not None:
        out.print(
            f"best: trial {result.best.number}, {result.metric} {result.best.value:.6g}"
            + (f" ({_params(result.best.params)})" if result.best.params else ""),
            highlight=False,
            soft_wrap=True,
        )
        if (result.dir / "best.yaml").is_file():
            out.print(f"train it: dlcli train recipe={result.dir / 'best.yaml'}", highlight=False, soft_wrap=True)
    out.print(f"sweep: {result.dir}", highlight=False, soft_wrap=True)
    if result.best is None and any(row.state == "failed" for row in result.rows):
        raise RunFailed(
            Problem("", "no trial finished", f"each failed trial's reason is in {result.dir / 'summary.csv'}")
        )


def trial_command(
    sweep_dir: Annotated[Path, typer.Argument(help="the sweep directory")],
    number: Annotated[int, typer.Argument(help="the trial's number")],
) -> None:
    """One trial of a --jobs sweep, in its own process (started by the sweep, not by hand)."""
    with user_errors():
        from dlcli.drivers import sweep as sweeping

        sweeping.run_trial(sweeping.find(str(sweep_dir)), number)


def _direction(text: str | None) -> str | None:
    from dlcli.errors import ConfigError, Problem

    if text is None:
        return None
    found = {"max": "maximize", "maximize": "maximize", "min": "minimize", "minimize": "minimize"}.get(text.lower())
    if found is None:
        raise ConfigError(Problem("--direction", f"expected max or min, got {text!r}"))
    return found


def _params(params: dict) -> str:
    return ", ".join(f"{k}={_num(v)}" for k, v in params.items())


def _num(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def table(rows, metric: str, maximize: bool, title: str | None = None, epochs: dict | None = None) -> Table:
    """trial, each swept key, state, metric, best so far (user text as plain text: the console reads no markup)."""
    keys = list(dict.fromkeys(k for row in rows for k in row.params))
    out_table = Table(title=title, title_justify="left")
    out_table.add_column("trial", justify="right")
    for key in keys:
        out_table.add_column(key, overflow="fold")
    for name in ("state", metric, "best so far"):
        out_table.add_column(name, justify="left" if name == "state" else "right", overflow="fold")
    best = None
    for row in rows:
        state = row.state
        if row.state == "running" and row.epoch:
            state = f"running, epoch {row.epoch}"
        if epochs and row.number in epochs:
            state = f"running, epoch {epochs[row.number]}"
        if row.state == "finished" and row.value is not None:
            best = row.value if best is None else (max if maximize else min)(best, row.value)
        value = "" if row.value is None else f"{row.value:.4f}"
        cells = [_num(row.params[k]) if k in row.params else "" for k in keys]
        out_table.add_row(str(row.number), *cells, state, value, "" if best is None else f"{best:.4f}")
    return out_table


class SweepView:
    """The live table of a sweep's trials; with --quiet (or no terminal), a line as each trial ends."""

    batches = False

    def __init__(self, metric: str, maximize: bool):
        self.metric, self.maximize = metric, maximize
        self.rows: list = []
        self.epoch: tuple[int, int] | None = None
        self.said: set = set()
        self.live = None
        if not State.quiet and err.is_terminal:
            self.live = Live(console=err, auto_refresh=False, transient=True)
            self.live.start()

    def trials(self, rows) -> None:
        self.rows = rows
        self._show()
        for row in rows:
            if row.state in ("finished", "pruned", "failed") and row.number not in self.said:
                self.said.add(row.number)
                if self.live is None:
                    value = "" if row.value is None else f" {self.metric} {row.value:.4f}"
                    err.print(
                        f"trial {row.number} {row.state}{value}"
                        + (f" ({_params(row.params)})" if row.params else "")
                        + (f": {row.error}" if row.error else ""),
                        highlight=False,
                        soft_wrap=True,
                    )

    def _show(self) -> None:
        if self.live is not None:
            running = {
                r.number: f"{self.epoch[0]}/{self.epoch[1]}" for r in self.rows if r.state == "running" and self.epoch
            }
            self.live.update(table(self.rows, self.metric, self.maximize, epochs=running), refresh=True)

    def stop(self) -> None:
        if self.live is not None:
            self.live.stop()

    # the lifecycle's events of an in-process trial
    def note(self, text: str) -> None:
        if ("note", text) not in self.said:
            self.said.add(("note", text))
            err.print(f"[yellow]note:[/] {escape(text)}", markup=True, soft_wrap=True, highlight=False)

    def train_begin(self, epochs: int, steps) -> None:
        self.epochs = epochs

    def epoch_begin(self, epoch: int) -> None: ...

    def batch_end(self, step: int, logs: dict) -> None: ...

    def epoch_end(self, epoch: int, seconds: float, logs: dict) -> None:
        self.epoch = (epoch, self.epochs)
        self._show()

    def train_end(self) -> None:
        self.epoch = None

    def fold_kept(self, index: int, k: int) -> None: ...

    def fold_done(self, index: int, k: int, metrics: dict) -> None: ...
