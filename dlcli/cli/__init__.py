"""The `dlcli` command: one module per subcommand, mounted here.

Importing this module must not import JAX or Keras (a test checks), so
`dlcli --help` and config errors answer at once.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from typer.core import TyperGroup

import dlcli
from dlcli import interrupt
from dlcli.cli import check, ensemble, env, evaluate, export, predict, recipes, runs, show, smoke, sweep, train
from dlcli.cli._common import State

GLOBAL_FLAGS = ("--debug", "--quiet", "-q")


class _Group(TyperGroup):
    """Global flags are accepted after the command too (`dlcli check recipe=x --debug`), as users type them."""

    def parse_args(self, ctx, args):
        flags = [a for a in args if a in GLOBAL_FLAGS]
        return super().parse_args(ctx, flags + [a for a in args if a not in GLOBAL_FLAGS])


app = typer.Typer(
    cls=_Group,
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
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet",
            "-q",
            help="no progress bars or live tables; the results (metrics table, run path), notes and errors still print",
        ),
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version")
    ] = False,
) -> None:
    State.debug, State.quiet = debug, quiet


for module in (train, check, show, recipes, evaluate, predict, export, ensemble, smoke, sweep, env):
    app.command(module.NAME, help=module.HELP)(module.command)
app.command(sweep.TRIAL, hidden=True)(sweep.trial_command)
app.add_typer(runs.app)


def main() -> None:
    interrupt.install()
    try:
        app()
    except SystemExit as exc:  # Click turns a Ctrl-C outside a command's error handling into "Aborted!", exit 1
        if interrupt.requested() and exc.code == 1:
            raise SystemExit(interrupt.exit_code()) from None
        raise
    except BaseException:  # a Ctrl-C while a command imports, which a library turned into an error of its own
        if not interrupt.requested():
            raise
        print("interrupted", file=sys.stderr)
        raise SystemExit(interrupt.exit_code()) from None
