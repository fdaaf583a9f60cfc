"""dlcli check recipe=NAME [overrides...] [--json] [--plot FILE.png]"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from dlcli.cli._common import ConfigDirs, Overrides, dirs, err, out, user_errors

NAME = "check"
HELP = "Validate and build the model without training: layer table, parameter counts, inputs and outputs."


def command(
    overrides: Overrides = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object instead of the table")] = False,
    plot: Annotated[
        Optional[Path], typer.Option("--plot", help="also draw the graph to this PNG (needs graphviz and pydot)")
    ] = None,
    expand: Annotated[bool, typer.Option("--expand", help="also list the layers inside sub-models")] = False,
    config_dir: ConfigDirs = None,
) -> None:
    from dlcli import data, lifecycle
    from dlcli.config import split_recipe
    from dlcli.graph import summary

    with user_errors():
        recipe, rest = split_recipe(list(overrides or []))
        prepared = lifecycle.prepare(recipe, rest, dirs(config_dir))
        data_cfg = prepared.cfg.data
        files = any(data_cfg[k] for k in ("path", "train_path", "val_path", "test_path"))
        if files:  # the user's files: read them as train does (a column, label or shape the model cannot take)
            lifecycle.read_data(prepared)
        built = lifecycle.build(prepared, join=False)  # waits for no process
        if files:  # and what the outputs' units make of the labels
            lifecycle.load_data(built)
        info = summary.describe(built.model, built.prepared.graph, expand)
        if as_json:
            typer.echo(json.dumps(info, indent=2))
        else:
            out.print(summary.table(info))
            out.print(summary.footer(info), highlight=False)
            for line in data.notes(built.prepared.cfg.data, built.io):
                out.print(line, highlight=False)
        if plot is not None:
            _plot(built.model, plot)


def _plot(model, path: Path) -> None:
    from rich.markup import escape

    from dlcli.graph.summary import plot

    problem = plot(model, path)
    if problem:
        err.print(
            f"[yellow]warning:[/] {escape(f'could not draw {path}: {problem}')}\nhint: pip install pydot, and install graphviz (apt-get install graphviz / brew install graphviz)",
            markup=True,
            highlight=False,
        )
    else:
        err.print(f"graph drawn to {path}", highlight=False)
