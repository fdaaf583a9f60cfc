"""dlcli ensemble RUN RUN ... [--weights equal|learn|0.6,0.4] [--name NAME]"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer

from dlcli.cli._common import TrustCode, out, user_errors

NAME = "ensemble"
HELP = (
    "Average finished runs into one run of its own (one Keras model: evaluate, predict and export work on it); "
    "weights equal, given, or learned per output on the validation split."
)


def command(
    runs: Annotated[
        List[str],
        typer.Argument(
            help="the members: run directories, run ids, latest or RECIPE/latest; a K-fold run stands for its folds",
            metavar="RUN...",
            show_default=False,
        ),
    ],
    weights: Annotated[
        str,
        typer.Option(
            help="equal; learn (per output on the validation split, non-negative, summing to 1); "
            "or one number per member, e.g. 0.6,0.4"
        ),
    ] = "equal",
    name: Annotated[
        Optional[str],
        typer.Option(help="the run's name under --runs-dir (default: the first member's name + '-ensemble')"),
    ] = None,
    runs_dir: Annotated[
        Path, typer.Option("--runs-dir", help="where run ids and `latest` are looked up, and the ensemble run goes")
    ] = Path("outputs"),
    trust_code: TrustCode = False,
) -> None:
    with user_errors():
        from dlcli.drivers import ensemble
        from dlcli.errors import ConfigError, Problem
        from dlcli.runs import find
        from dlcli.safepath import check_run_place

        if name is not None:
            try:
                check_run_place(runs_dir, name)
            except ConfigError as exc:
                flags = {"run.dir": "--runs-dir", "run.name": "--name"}
                raise ConfigError([Problem(flags[p.key], p.message, p.hint) for p in exc.problems]) from exc
        members = [find(run, runs_dir, finished=True) for run in runs]
        result = ensemble.combine(members, weights, name, runs_dir, trust_code)
        show(result, runs_dir)
        out.print(f"run: {result.run_dir}", highlight=False, soft_wrap=True)


def show(result, runs_dir: Path) -> None:
    out.print(table(result, runs_dir))
    for note in result.notes:
        out.print(f"note: {note}", highlight=False, soft_wrap=True)


def table(result, runs_dir: Path):
    """Rows: the weights, then every val and test metric; columns: each member, then the ensemble."""
    from rich.table import Table

    members = [_short(m, runs_dir) for m in result.members]
    caption = "\n".join(f"member {i}: {m}" for i, m in enumerate(members, start=1))
    view = Table(title="ensemble", title_justify="left", caption=caption, caption_justify="left")
    view.add_column("")
    for i in range(1, len(members) + 1):
        view.add_column(f"member {i}", justify="right")
    view.add_column("ensemble", justify="right")
    several = len(result.weights) > 1
    for output, shares in result.weights.items():
        view.add_row(f"{output} weight" if several else "weight", *(f"{w:.3f}" for w in shares), "")
    for split, metrics in result.metrics.items():
        for metric, value in metrics.items():
            cells = [f"{m[split][metric]:.4f}" if metric in m.get(split, {}) else "" for m in result.member_metrics]
            view.add_row(f"{split} {metric}", *cells, f"{value:.4f}")
    return view


def _short(member: str, runs_dir: Path) -> str:
    """A member as its run id (RECIPE/STAMP) when it lies under the runs directory."""
    try:
        return str(Path(member).relative_to(runs_dir.resolve()))
    except ValueError:
        return member
