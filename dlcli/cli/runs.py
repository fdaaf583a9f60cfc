"""dlcli runs list [RECIPE] [--json] | runs compare RUN RUN ... | SWEEP [--csv|--json] | runs rm RUN ... [--yes]"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Annotated, List, Optional

import typer
from rich.table import Table

from dlcli.cli._common import RunsRoot, err, out, user_errors

NAME = "runs"
HELP = "List runs with their status and metrics, compare them, or remove them."

app = typer.Typer(name=NAME, help=HELP, no_args_is_help=True, add_completion=False)


@app.command("list")
def list_command(
    recipe: Annotated[
        Optional[str], typer.Argument(help="only this recipe's runs (run.name)", show_default=False)
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON list, for scripts")] = False,
    runs_dir: RunsRoot = Path("outputs"),
) -> None:
    """Every run: id, recipe, started, duration, status (running, finished, failed, interrupted, pruned), metrics."""
    with user_errors():
        from dlcli.runs import catalog

        runs = catalog.list_runs(runs_dir, recipe)
        if as_json:
            out.print_json(json.dumps([r.as_json() for r in runs]))
            return
        if not runs:
            err.print(f"no runs under {runs_dir.resolve()}", highlight=False)
            return
        table = Table(title=f"runs under {runs_dir}", title_justify="left")
        for name in ("run", "recipe", "started", "duration", "status", "metrics"):
            table.add_column(name, overflow="fold", justify="right" if name == "duration" else "left")
        for run in runs:
            duration = "" if run.seconds is None else f"{run.seconds:.0f}s"
            shown = "  ".join(f"{k} {v:.4f}" for k, v in list(run.metrics.items())[:2])
            table.add_row(run.id, run.recipe, run.started or "", duration, run.status, shown)
        out.print(table)


@app.command("compare")
def compare_command(
    runs: Annotated[
        List[str],
        typer.Argument(
            help="two or more runs (directory, RECIPE/STAMP, latest), or one sweep (directory, RECIPE/sweeps/latest)"
        ),
    ],
    as_csv: Annotated[bool, typer.Option("--csv", help="the table as CSV")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="the table as JSON")] = False,
    plot: Annotated[
        Optional[Path],
        typer.Option(
            help="write the training curves, overlaid, to this PNG (a sweep: SWEEP/plots/curves.png by default)"
        ),
    ] = None,
    force: Annotated[bool, typer.Option(help="replace --plot if it exists")] = False,
    runs_dir: RunsRoot = Path("outputs"),
) -> None:
    """The config keys whose values differ, and the final metrics, side by side."""
    with user_errors():
        from dlcli.cli._common import refuse_to_replace
        from dlcli.errors import ConfigError, Problem
        from dlcli.runs import catalog, rundir, sweeps

        refuse_to_replace(plot, force, "--plot")
        sweep = sweeps.find(runs[0], runs_dir) if len(runs) == 1 else None
        if sweep is not None:
            sweeps.check_folders(sweep)  # SWEEP/plots receives the curves
            dirs = sorted(
                (d for d in rundir.runs(sweep / "trials")), key=lambda d: int(d.name) if d.name.isdigit() else 0
            )
            names = [f"trial {d.name}" for d in dirs]
            plot = plot or sweep / "plots" / "curves.png"
        else:
            dirs = [rundir.find(r, runs_dir) for r in runs]
            names = list(runs)
        if len(dirs) < 2:
            raise ConfigError(
                Problem("RUN", f"comparing needs two runs or more, got {len(dirs)}", "name two runs, or a sweep")
            )
        result = catalog.compare(dirs, names)
        if as_json:
            out.print_json(json.dumps({"runs": result.runs, "config": result.config, "metrics": result.metrics}))
        elif as_csv:
            writer = csv.writer(sys.stdout, lineterminator="\n")  # not the csv module's \r\n
            writer.writerow(["key", *result.runs])
            for key, values in {**result.config, **result.metrics}.items():
                writer.writerow([key, *("" if v is None else v for v in values)])
        else:
            out.print(_table(result))
        if plot is not None:
            catalog.curves(dirs, names, plot)
            err.print(f"curves: {plot}", highlight=False, soft_wrap=True)


def _table(result) -> Table:
    table = Table(title_justify="left")
    table.add_column("key", overflow="fold")
    for name in result.runs:
        table.add_column(name, overflow="fold", justify="right")
    if not result.config:
        table.add_row("(config)", *("same" for _ in result.runs))
    for key, values in result.config.items():
        table.add_row(key, *("(none)" if v is None else str(v) for v in values))
    table.add_section()
    for key, values in result.metrics.items():
        table.add_row(key, *("" if v is None else f"{v:.4f}" for v in values))
    return table


@app.command("rm")
def rm_command(
    runs: Annotated[List[str], typer.Argument(help="runs (directory, RECIPE/STAMP) or sweep directories to delete")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask")] = False,
    runs_dir: RunsRoot = Path("outputs"),
) -> None:
    """Delete runs, after asking (the only command that deletes a run)."""
    with user_errors():
        from dlcli.errors import ConfigError, Problem
        from dlcli.runs import catalog, rundir, sweeps

        if any(r.endswith("latest") for r in runs):
            raise ConfigError(Problem("RUN", "rm takes runs by name, not latest", "give the run id or directory"))
        targets = [sweeps.find(r, runs_dir) or rundir.find(r, runs_dir) for r in runs]
        for target in targets:  # before asking: a yes would not delete them either
            catalog.check_removable(target)
        for target in targets:
            out.print(f"  {target}", highlight=False, soft_wrap=True)
        if not yes:
            try:
                sure = typer.confirm(f"delete {len(targets)} run{'s' if len(targets) > 1 else ''}?", default=False)
            except typer.Abort:  # no answer (stdin closed): what a script meant to delete is still there
                raise ConfigError(
                    Problem("--yes", "nothing deleted: no answer to the question", "add --yes to delete without asking")
                ) from None
            if not sure:  # declining is an answer, not a failure
                err.print("nothing deleted", highlight=False)
                return
        for target in targets:
            catalog.remove(target)
        err.print(f"deleted {len(targets)}", highlight=False)
