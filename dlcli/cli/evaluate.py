"""dlcli evaluate RUN [overrides...]"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from dlcli.cli._common import (
    BatchSize,
    Run,
    RunOverrides,
    RunsRoot,
    SplitName,
    TrustCode,
    chosen_split,
    out,
    user_errors,
)

NAME = "evaluate"
HELP = (
    "Reload a run's model and preprocessing and report on its test split (per-class or per-label report, confusion "
    "matrix, ROC AUC, errors in original units per column); writes eval.json (eval-1.json, ... next time) and plots/eval/."
)
SHOWN_CLASSES = 12  # a longer per-class table or confusion matrix is left to eval.json and the PNG


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
    split: SplitName = None,
    threshold: Annotated[
        Optional[str],
        typer.Option(
            help="binary outputs: 0.5 (any number in (0, 1)), best-f1 or youden, fit on the validation split; "
            "saved with the run (threshold.json), and predict applies it",
            show_default=False,
        ),
    ] = None,
    batch_size: BatchSize = None,
    runs_dir: RunsRoot = Path("outputs"),
    trust_code: TrustCode = False,
) -> None:
    from dlcli import evaluation
    from dlcli.runs import find
    from dlcli.runs.load import open_run

    with user_errors():
        split = chosen_split(split, input)
        evaluation.threshold_method(threshold)
        path = find(run, runs_dir, finished=True)
        folds = _folds(path)
        if folds:
            _finished(path, folds)
        for place in folds or [path]:  # a link out of the run is refused before anything is computed
            evaluation.place(place, split, input)
        if folds:
            return _kfold(path, folds, list(overrides or []), input, split, threshold, batch_size, trust_code)
        opened = open_run(path, list(overrides or []), trust_code)
        report = evaluation.evaluate(opened, split, input, batch_size, threshold)
        _show(report.data)  # before writing: a read-only run directory still shows the numbers
        target = evaluation.write(opened.path, report, list(overrides or []))
        _wrote(opened.path, report, target)


def _folds(path: Path) -> list[Path]:
    """A K-fold parent's fold-1/ ... fold-K/, in order (none for a run with its own model)."""
    if (path / "model.keras").is_file():
        return []
    found = [p for p in path.glob("fold-*") if p.name[5:].isdigit() and (p / "model.keras").is_file()]
    return sorted(found, key=lambda p: int(p.name[5:]))


def _finished(path: Path, folds: list[Path]) -> None:
    """A K-fold run cut short has some folds' models: scoring those alone would pass for its cross-validation."""
    from dlcli.errors import ConfigError, Problem
    from dlcli.runs import rundir

    if not rundir.is_finished(path):
        done = ", ".join(f.name for f in folds)
        raise ConfigError(
            Problem(
                "RUN",
                f"{path} is a K-fold run that did not finish (only {done} trained)",
                f"resume it (dlcli train --resume {path}), or evaluate one fold: {folds[0]}",
            )
        )


def _kfold(path: Path, folds: list[Path], overrides, input, split, threshold, batch_size, trust_code) -> None:
    """Each fold on its own split (its own validation fold; the shared test split), then the mean ± std."""
    from dlcli import backend, evaluation
    from dlcli.cli import render
    from dlcli.drivers import kfold
    from dlcli.runs import unused, write_json
    from dlcli.runs.load import open_run

    keras = backend.setup()  # Keras on JAX, whatever ~/.keras/keras.json says
    what = str(input) if input is not None else split
    scores = []
    for fold in folds:
        opened = open_run(fold, overrides, trust_code)
        report = evaluation.evaluate(opened, split, input, batch_size, threshold)
        evaluation.write(fold, report, overrides)
        scores.append({what: evaluation.scalars(report.data)})
        keras.backend.clear_session()
    mean, std = kfold.aggregate(scores)
    out.print(render.kfold_table(kfold.KFoldResult(path, scores, mean, std)))
    target = unused(path / "eval.json")
    write_json(
        target,
        {"split": what, "kfold": len(folds), "folds": [s[what] for s in scores], "mean": mean[what], "std": std[what]},
    )
    out.print(f"each fold's report in {path}/fold-*/eval.json; wrote {target}", highlight=False, soft_wrap=True)


def _wrote(run_dir: Path, report, target: Path) -> None:
    if report.figures:
        out.print(f"plots: {run_dir / 'plots' / 'eval' / report.folder}", highlight=False, soft_wrap=True)
    if report.fitted:
        shown = ", ".join(f"{name} {t['value']:.4g}" for name, t in report.fitted.items())
        out.print(
            f"threshold {shown} saved in {run_dir / 'threshold.json'}: predict applies it",
            highlight=False,
            soft_wrap=True,
        )
    out.print(f"wrote {target}", highlight=False, soft_wrap=True)


def _show(data: dict) -> None:
    """The compiled metrics, then each output's report, compactly."""
    from rich.table import Table

    out.print(f"{data['split']}: {data['samples']} samples", highlight=False, soft_wrap=True)
    table = Table(title="compiled metrics", title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in data["metrics"].items():
        table.add_row(name, f"{value:.4f}")
    out.print(table)
    several = len(data["outputs"]) > 1
    for name, judged in data["outputs"].items():
        heading = f"output {name}: " if several else ""
        if judged["kind"] in ("classification", "binary"):
            _classification(judged, heading)
        elif judged["kind"] == "multi-label":
            title = f"{heading}per label (threshold {judged.get('threshold', 0.5):.4g})"
            _per_class(judged["report"], judged["classes"], title, ("micro avg", "macro avg", "samples avg"), "label")
        shown = judged["summary"]
        if "columns" in judged:  # a regression of several columns: a row each, then the pooled numbers
            _per_column(judged["columns"], heading)
            shown = {k: judged[k] for k in ("mse", "mae", "r2")}
            heading += "all columns: "
        summary = "  ".join(f"{k} {_number(v)}" for k, v in shown.items())
        out.print(f"{heading}{summary}", highlight=False, soft_wrap=True)
        for note in (v for k, v in judged.items() if k.endswith("_note")):
            out.print(f"{heading}note: {note}", highlight=False, soft_wrap=True)


def _classification(judged: dict, heading: str) -> None:
    from rich.table import Table

    classes = judged["classes"]
    title = f"{heading}per class"
    if judged["kind"] == "binary":
        cut = judged["threshold"]
        title += f" (threshold {cut['value']:.4g}, {cut['method']}{' on ' + cut['split'] if 'split' in cut else ''})"
    _per_class(judged["report"], classes, title)
    if len(classes) > SHOWN_CLASSES:
        return
    out.print(f"{heading}confusion matrix (rows: true, columns: predicted)", highlight=False)
    matrix = Table()
    matrix.add_column("")
    for label in classes:
        matrix.add_column(str(label), justify="right")
    for label, row in zip(classes, judged["confusion_matrix"]):
        matrix.add_row(str(label), *(str(v) for v in row))
    out.print(matrix)


def _per_column(columns: dict, heading: str) -> None:
    from rich.table import Table

    table = Table(title=f"{heading}per column, in its own units", title_justify="left")
    for column in ("column", "mae", "rmse", "r2", "mape"):
        table.add_column(column, justify="left" if column == "column" else "right")
    for name, errors in list(columns.items())[:SHOWN_CLASSES]:
        table.add_row(name, *(_number(errors[k]) for k in ("mae", "rmse", "r2", "mape")))
    if len(columns) > SHOWN_CLASSES:
        table.caption = f"{len(columns) - SHOWN_CLASSES} more columns in eval.json"
    out.print(table)


def _per_class(
    report: dict, classes: list[str], title: str, averages=("macro avg", "weighted avg"), row="class"
) -> None:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for column in (row, "precision", "recall", "f1", "support"):
        table.add_column(column, justify="left" if column == row else "right")
    rows = [c for c in classes if c in report]
    shown = rows[:SHOWN_CLASSES]
    for label in [*shown, *averages]:
        r = report.get(label)
        if r is not None:
            table.add_row(
                str(label), *(f"{r[k]:.4f}" for k in ("precision", "recall", "f1-score")), str(int(r["support"]))
            )
    if len(rows) > len(shown):
        table.caption = f"{len(rows) - len(shown)} more classes in eval.json"
    out.print(table)


def _number(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"
