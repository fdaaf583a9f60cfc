"""dlcli train recipe=NAME [overrides...] [--smoke] | dlcli train --resume RUN [overrides...]"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from dlcli.cli._common import ConfigDirs, Overrides, State, dirs, err, out, user_errors

NAME = "train"
HELP = "Compose, validate, build and train a recipe; prints the run directory at the end."
SWEEP_OPTIONS = ("--search", "--trials", "--metric", "--direction", "--prune", "--jobs", "--storage", "--join")


def command(
    overrides: Overrides = None,
    smoke: Annotated[
        bool,
        typer.Option(
            "--smoke", help="synthetic data from the model's specs, one short epoch: proves the recipe end to end"
        ),
    ] = False,
    config_dir: ConfigDirs = None,
    resume: Annotated[
        Optional[str],
        typer.Option(
            "--resume",
            help="continue an interrupted run (run directory, run id, latest or RECIPE/latest) from its last finished epoch; overrides may raise train.epochs",
            show_default=False,
        ),
    ] = None,
    runs_dir: Annotated[
        Optional[Path],
        typer.Option(
            "--runs-dir",
            help="where new runs go (run.dir, default outputs) and --resume looks runs up",
            show_default=False,
        ),
    ] = None,
    multirun: Annotated[
        bool,
        typer.Option(
            "--multirun", "-m", help="Hydra's multirun: one run per combination of a=1,2 b=x,y (see dlcli sweep)"
        ),
    ] = False,
    sweep_option: Annotated[Optional[str], typer.Option(*SWEEP_OPTIONS, hidden=True, show_default=False)] = None,
) -> None:
    if sweep_option is not None:  # reached for by users of -m; "No such option" would not say where they are
        with user_errors():
            from dlcli.errors import ConfigError, Problem

            raise ConfigError(
                Problem(
                    "train",
                    f"{', '.join(SWEEP_OPTIONS[:-1])} and {SWEEP_OPTIONS[-1]} are options of dlcli sweep",
                    "train -m runs a plain grid; to search, or to choose what a sweep optimises:"
                    " dlcli sweep recipe=NAME a=1,2 --metric val_accuracy",
                )
            )
    if multirun:
        from dlcli.cli import sweep

        with user_errors():
            sweep.grid(list(overrides or []), config_dir, runs_dir, smoke or resume is not None)
        return
    with user_errors():  # (the imports too: a Ctrl-C while they load is an interruption like any other)
        from dlcli import interrupt, lifecycle
        from dlcli.cli import render
        from dlcli.cli.ensemble import show as show_ensemble
        from dlcli.config import split_recipe
        from dlcli.drivers import ensemble, kfold, single
        from dlcli.drivers import resume as resuming
        from dlcli.drivers import smoke as smoking
        from dlcli.errors import ConfigError, Interrupted, Problem

        observer = render.QuietObserver(err) if State.quiet else render.RichObserver(err)
        if resume is not None:
            if smoke:
                raise ConfigError(Problem("--smoke", "--smoke makes a new throw-away run; it cannot resume one"))
            prepared, run_dir = resuming.reopen(
                resume, list(overrides or []), runs_dir or Path("outputs"), dirs(config_dir)
            )
            main = lifecycle.main_process(prepared.cfg)
            _joining(prepared.cfg)
            result = resuming.run(prepared, run_dir, observer if main else lifecycle.Observer())
        else:
            recipe, rest = split_recipe(list(overrides or []))
            adjust = smoking.shrink if smoke else None
            prepared = lifecycle.prepare(recipe, rest, dirs(config_dir), runs_dir=runs_dir, adjust=adjust)
            driver = ensemble if ensemble.wanted(prepared.cfg) else kfold if kfold.wanted(prepared.cfg) else single
            main = lifecycle.main_process(prepared.cfg)
            _joining(prepared.cfg)
            result = driver.run(prepared, observer if main else lifecycle.Observer())
        if not main:  # several processes: process 0 prints
            return
        if interrupt.requested():  # too late to stop it: say that the run is whole
            raise Interrupted(Problem("", f"interrupted after the run finished: {result.run_dir} is complete"))
        if isinstance(result, ensemble.EnsembleResult):
            show_ensemble(result, Path(prepared.cfg.run.dir))
        elif isinstance(result, kfold.KFoldResult):
            out.print(render.kfold_table(result))
        else:
            out.print(render.metrics_table(result.metrics))
        out.print(f"run: {result.run_dir}", highlight=False, soft_wrap=True, markup=False)


def _joining(cfg) -> None:
    """Every process of several says what it waits for (process 0 alone prints the rest)."""
    from dlcli import lifecycle

    text = lifecycle.joining(cfg)
    if text is not None:
        err.print(f"note: {text}", markup=False, highlight=False, soft_wrap=True)
