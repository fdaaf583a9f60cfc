"""dlcli show recipe=NAME [overrides...]"""

from __future__ import annotations

import typer

from dlcli.cli._common import ConfigDirs, Overrides, dirs, user_errors

NAME = "show"
HELP = "Print the composed, resolved config as YAML."


def command(overrides: Overrides = None, config_dir: ConfigDirs = None) -> None:
    from omegaconf import OmegaConf

    from dlcli import lifecycle
    from dlcli.config import split_recipe

    with user_errors():
        recipe, rest = split_recipe(list(overrides or []))
        prepared = lifecycle.prepare(recipe, rest, dirs(config_dir))
        typer.echo(OmegaConf.to_yaml(prepared.cfg, resolve=True), nl=False)
