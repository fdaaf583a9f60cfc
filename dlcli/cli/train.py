"""dlcli train recipe=NAME [overrides...] [--smoke] | dlcli train --resume RUN [overrides...]"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from dlcli.cli._common import ConfigDirs, Overrides, State, dirs, err, out, user_errors

NAME = "train"
HELP = "Compose, validate, build and train a recipe; prints the run directory at the end."


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
) -> None:
    from dlcli import runner
    from dlcli.config import split_recipe
    from dlcli.runs import kfold

    with user_errors():
        if resume is not None:
            from dlcli.errors import ConfigError, Problem
            from dlcli.runs.resume import reopen

            if smoke:
                raise ConfigError(Problem("--smoke", "--smoke makes a new throw-away run; it cannot resume one"))
            prepared, run_dir = reopen(resume, list(overrides or []), runs_dir or Path("outputs"))
        else:
            recipe, rest = split_recipe(list(overrides or []))
            prepared, run_dir = runner.prepare(recipe, rest, dirs(config_dir), smoke=smoke, runs_dir=runs_dir), None
        if kfold.wanted(prepared.cfg):
            result = kfold.train_folds(prepared, console=err, quiet=State.quiet, parent=run_dir)
            out.print(kfold.table(result))
            out.print(f"run: {result.run_dir}", highlight=False, soft_wrap=True)
            return
        runner.read_data(prepared)
        built = runner.build(prepared)
        result = runner.train(built, console=err, quiet=State.quiet, resume=run_dir)
        print_result(result)


def print_result(result) -> None:
    from rich.table import Table

    table = Table(title="final metrics", title_justify="left")
    table.add_column("split")
    names = list(dict.fromkeys(k for split in result.metrics.values() for k in split))
    for name in names:
        table.add_column(name, justify="right")
    for split, values in result.metrics.items():
        table.add_row(split, *(f"{values[n]:.4f}" if n in values else "" for n in names))
    out.print(table)
    out.print(f"run: {result.run_dir}", highlight=False, soft_wrap=True)
