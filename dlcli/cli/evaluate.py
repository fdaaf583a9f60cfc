"""dlcli evaluate RUN [overrides...]"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer

from dlcli.cli._common import RunsRoot, out, user_errors

NAME = "evaluate"
HELP = "Reload a run's model and preprocessing and evaluate on its test split; writes eval.json."


def command(
    run: Annotated[str, typer.Argument(help="run directory, run id (RECIPE/STAMP), latest or RECIPE/latest")],
    overrides: Annotated[Optional[List[str]], typer.Argument(help="overrides of the run's config, e.g. data.path=other.npz", show_default=False)] = None,
    split: Annotated[str, typer.Option(help="which split to evaluate: test, val or train")] = "test",
    runs_dir: RunsRoot = Path("outputs"),
) -> None:
    from rich.table import Table

    from dlcli.errors import ConfigError, Problem
    from dlcli.runner import evaluate_split
    from dlcli.runs import find, write_json
    from dlcli.runs.load import open_run

    with user_errors():
        if split not in ("test", "val", "train"):
            raise ConfigError(Problem("--split", f"expected test, val or train, got {split!r}"))
        opened = open_run(find(run, runs_dir), list(overrides or []))
        dataset = opened.dataset()
        chosen = getattr(dataset, split)
        if chosen is None:
            raise ConfigError(Problem("--split", f"the run has no {split} split", "try --split val, or give data with a test set"))
        metrics = evaluate_split(opened.model, chosen, opened.cfg.train.batch_size, dataset.preprocessor)
        write_json(opened.path / "eval.json", {"split": split, "samples": len(chosen), "metrics": metrics, "overrides": list(overrides or [])})
        table = Table(title=f"{split} metrics ({len(chosen)} samples)", title_justify="left")
        table.add_column("metric")
        table.add_column("value", justify="right")
        for name, value in metrics.items():
            table.add_row(name, f"{value:.4f}")
        out.print(table)
        out.print(f"wrote {opened.path / 'eval.json'}", highlight=False, soft_wrap=True)
