"""dlcli smoke: `train --smoke` over every recipe, one line each."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Annotated, List, Optional

import typer

from dlcli.cli._common import ConfigDirs, dirs, out, user_errors

NAME = "smoke"
HELP = "Run every recipe on synthetic data for a couple of steps; exit 1 if any fails (what CI runs)."


def command(
    only: Annotated[
        Optional[List[str]], typer.Argument(help="recipe names to run (default: all)", show_default=False)
    ] = None,
    config_dir: ConfigDirs = None,
) -> None:
    from rich.markup import escape

    from dlcli.config import config_dirs, discover
    from dlcli.config.recipes import resolve
    from dlcli.drivers import smoke
    from dlcli.errors import DlcliError

    with user_errors():
        for name in only or []:  # a misspelt name is a usage error (did you mean), found before any recipe runs
            resolve(name, config_dirs(dirs(config_dir)))
        names = list(only or discover(config_dirs(dirs(config_dir))))
        failed = []
        with tempfile.TemporaryDirectory(prefix="dlcli-smoke-") as root:
            for name in names:
                start = time.perf_counter()
                try:
                    smoke.run(name, dirs(config_dir), Path(root))
                    status, detail = "[green]ok[/]  ", ""
                except DlcliError as exc:
                    status, detail = "[red]FAIL[/]", exc.problems[0].render().splitlines()[0]
                    failed.append(name)
                except Exception as exc:  # report and go on to the next recipe
                    status, detail = "[red]FAIL[/]", f"{type(exc).__name__}: {exc}".splitlines()[0]
                    failed.append(name)
                line = f"{name:<28} {time.perf_counter() - start:6.1f}s  {detail}"
                out.print(f"{status} {escape(line)}", markup=True, highlight=False)
        out.print(f"{len(names) - len(failed)} passed, {len(failed)} failed", highlight=False)
        if failed:
            raise typer.Exit(1)
