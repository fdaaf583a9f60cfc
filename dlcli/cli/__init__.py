"""The `dlcli` command: one module per subcommand, mounted here.

Importing this module must not import JAX or Keras (a test checks), so
`dlcli --help` and config errors answer at once.
"""

from __future__ import annotations

from typing import Annotated

import typer

import dlcli
from dlcli.cli import check, evaluate, export, predict, recipes, show, smoke, train
from dlcli.cli._common import State

app = typer.Typer(
    name="dlcli",
    help="Declarative deep-learning experiments: Hydra configs compiled to Keras 3 models on JAX.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"dlcli {dlcli.__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    debug: Annotated[bool, typer.Option("--debug", help="show full tracebacks")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bars; results only")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version")] = False,
) -> None:
    State.debug, State.quiet = debug, quiet


for module in (train, check, show, recipes, evaluate, predict, export, smoke):
    app.command(module.NAME, help=module.HELP)(module.command)


def main() -> None:
    app()
