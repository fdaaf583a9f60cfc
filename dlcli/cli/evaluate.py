"""dlcli evaluate RUN [overrides...]"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from dlcli.cli._common import Run, RunOverrides, RunsRoot, SplitName, Splits, TrustCode, out, user_errors

NAME = "evaluate"
HELP = "Reload a run's model and preprocessing and evaluate on its test split; writes eval.json (eval-1.json, ... next time)."


def command(
    run: Run,
    overrides: RunOverrides = None,
    input: Annotated[
        Optional[Path],
        typer.Option(
            "--input",
            "-i",
            help="CSV or .npz of labelled samples, with the training data's columns or arrays: every row is scored",
        ),
    ] = None,
    split: SplitName = Splits.test,
    runs_dir: RunsRoot = Path("outputs"),
    trust_code: TrustCode = False,
) -> None:
    from rich.table import Table

    from dlcli.errors import ConfigError, Problem
    from dlcli.lifecycle import evaluate_split
    from dlcli.runs import find, unused, write_json
    from dlcli.runs.load import open_run

    split = split.value  # a plain name from here on
    with user_errors():
        opened = open_run(find(run, runs_dir, finished=True), list(overrides or []), trust_code)
        if input is not None:
            chosen, what, pre = opened.labelled(input), str(input), opened.preprocessor()
        else:
            dataset = opened.dataset()
            chosen, what, pre = getattr(dataset, split), split, dataset.preprocessor
            if chosen is None:
                raise ConfigError(
                    Problem("--split", f"the run has no {split} split", "try --split val, or score a file with --input")
                )
        metrics = evaluate_split(opened.model, chosen, opened.cfg.train.batch_size, pre)
        table = Table(title=f"{what} metrics ({len(chosen)} samples)", title_justify="left")
        table.add_column("metric")
        table.add_column("value", justify="right")
        for name, value in metrics.items():
            table.add_row(name, f"{value:.4f}")
        out.print(table)  # before writing: a read-only run directory still shows the numbers
        target = unused(opened.path / "eval.json")
        write_json(
            target, {"split": what, "samples": len(chosen), "metrics": metrics, "overrides": list(overrides or [])}
        )
        out.print(f"wrote {target}", highlight=False, soft_wrap=True)
