import csv
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def invoke():
    """The real Typer app in this process, for module-scoped fixtures: (exit code, stdout, stderr)."""
    from typer.testing import CliRunner

    from dlcli.cli import app

    def run(*args, input=None):
        result = CliRunner().invoke(app, [str(a) for a in args], input=input, catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    return run


def summary(sweep_dir: Path) -> list[dict]:
    with open(sweep_dir / "summary.csv") as handle:
        return list(csv.DictReader(handle))


def only_sweep(runs_dir: Path) -> Path:
    (found,) = runs_dir.glob("*/sweeps/*/sweep.yaml")
    return found.parent
