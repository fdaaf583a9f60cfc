"""Helpers for tests that train through the real CLI, in-process."""

import csv
import os
from pathlib import Path


def train_in(where: Path, *args) -> tuple[int, Path | None, str]:
    """`dlcli -q train ARGS` run from `where`; (exit code, run directory, stderr)."""
    from typer.testing import CliRunner

    from dlcli.cli import app

    old = os.getcwd()
    os.chdir(where)
    try:
        result = CliRunner().invoke(app, ["-q", "train", *map(str, args)], catch_exceptions=False)
    finally:
        os.chdir(old)
    lines = [line for line in result.stdout.splitlines() if line.startswith("run: ")]
    return result.exit_code, (where / lines[-1].removeprefix("run: ")) if lines else None, result.stderr


def history(run_dir: Path) -> list[dict[str, float]]:
    return [{k: float(v) for k, v in row.items()} for row in csv.DictReader((run_dir / "history.csv").open())]
