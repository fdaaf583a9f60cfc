"""dlcli predict RUN [--input FILE] [overrides...]"""

from __future__ import annotations

from itertools import chain
from pathlib import Path
from typing import Annotated, Optional

import typer

from dlcli.cli._common import (
    Run,
    RunOverrides,
    RunsRoot,
    SplitName,
    TrustCode,
    chosen_split,
    out,
    refuse_to_replace,
    user_errors,
)

NAME = "predict"
HELP = "Predict with a run's model and preprocessing, on a file of new samples or one of its splits; writes a CSV (an .npz for images and sequences)."


def command(
    run: Run,
    overrides: RunOverrides = None,
    input: Annotated[
        Optional[Path],
        typer.Option(
            "--input",
            "-i",
            help="CSV or .npz of samples, with the training data's columns or arrays (targets optional)",
        ),
    ] = None,
    split: SplitName = None,
    output: Annotated[
        Optional[Path],
        typer.Option(
            "--output",
            "-o",
            help="file to write, .csv or .npz (default RUN/predictions/NAME.csv; .npz for outputs of several values)",
        ),
    ] = None,
    force: Annotated[bool, typer.Option(help="replace --output if it exists")] = False,
    rows: Annotated[int, typer.Option(help="how many rows to show")] = 10,
    batch_size: Annotated[
        Optional[int],
        typer.Option(
            min=1,
            help="samples per prediction batch (default: the run's train.batch_size); --input is read and "
            "written a chunk at a time (the smallest multiple of this of at least 1024 samples), never held whole",
            show_default=False,
        ),
    ] = None,
    runs_dir: RunsRoot = Path("outputs"),
    trust_code: TrustCode = False,
) -> None:
    from dlcli import evaluation, predict
    from dlcli.errors import ConfigError, Problem
    from dlcli.runs import find, rundir, unused
    from dlcli.runs.load import open_run

    with user_errors():
        split = chosen_split(split, input)
        output = refuse_to_replace(output, force)  # where a link points: the file type is that file's
        if output is not None and output.suffix not in (".csv", ".npz"):
            raise ConfigError(
                Problem(
                    "--output",
                    f"{output} is neither .csv nor .npz",
                    "predictions are written as CSV or as an .npz of one array per column",
                )
            )
        if rows < 0:
            raise ConfigError(Problem("--rows", f"must be 0 or more, not {rows}", "--rows 0 shows none"))
        opened = open_run(find(run, runs_dir, finished=True), list(overrides or []), trust_code)
        folder = None if output else rundir.inside(opened.path, "predictions")  # a link out: refused before predicting
        if input is not None:
            batches = predict.on_file(opened, input, batch_size)
        else:
            batches = predict.on_split(opened, split, batch_size)
        first = next(batches)  # its outputs say the file type: CSV, or .npz for shaped ones
        stem = input.stem if input is not None else split
        target = output or unused(folder / f"{stem}{first.suffix}")
        result = predict.write(chain([first], batches), target, rows)
        out.print(f"{result.count} predictions of {input or f'the {split} split'}", highlight=False, soft_wrap=True)
        if rows > 0 and len(result.shown.columns):
            _show(result.shown, rows, result.count)
        for line in result.summary():
            out.print(line, highlight=False, soft_wrap=True)
        for name, cut in evaluation.saved_thresholds(opened.path).items():
            out.print(f"{name}: threshold {cut['value']:.4g} ({cut['method']}, threshold.json)", highlight=False)
        for name, (metric, value) in result.scores.items():
            out.print(f"{name}: {metric} {value:.4f} against the given targets", highlight=False)
        out.print(f"wrote {target}", highlight=False, soft_wrap=True)


def _show(frame, rows: int, count: int) -> None:
    """The first `rows` rows of `count` predictions."""
    from numbers import Integral, Real

    from rich.table import Table

    table = Table(caption=f"first {rows} of {count}" if count > rows else None)
    for column in frame.columns:
        table.add_column(str(column), justify="right")
    for values in frame.head(rows).itertuples(index=False):
        table.add_row(*(f"{v:.4g}" if isinstance(v, Real) and not isinstance(v, Integral) else str(v) for v in values))
    out.print(table)
