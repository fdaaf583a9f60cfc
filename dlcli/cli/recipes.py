"""dlcli recipes"""

from __future__ import annotations

from rich.table import Table

from dlcli.cli._common import ConfigDirs, dirs, out, user_errors

NAME = "recipes"
HELP = "List the recipes (shipped and from --config-dir) with a one-line description each."


def command(config_dir: ConfigDirs = None) -> None:
    from dlcli.config import config_dirs, discover

    with user_errors():
        found = discover(config_dirs(dirs(config_dir)))
        table = Table(show_header=True, box=None)
        table.add_column("recipe", style="bold")
        table.add_column("description")
        for recipe in found.values():
            table.add_row(recipe.name, recipe.description)
        out.print(table)
