import os

import pytest

# Keras reads its backend once, at first import: set it before any test imports it.
os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("DLCLI_JAX_CACHE", "off")


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Run in an empty directory, so outputs/ lands there."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def cli():
    """Invoke the real Typer app; returns (exit code, stdout, stderr)."""
    from typer.testing import CliRunner

    from dlcli.cli import app

    runner = CliRunner()

    def invoke(*args):
        result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    return invoke


# Tables of independent tests, each test its own unit of work for xdist: both workers share them.
SPREAD = {"tests/test_docs.py", "tests/cli/test_smoke.py", "tests/graph/test_recipes.py"}


def pytest_collection_modifyitems(items):
    """With `--dist loadgroup`, a module's tests share one worker, so its module fixtures are
    built once (as `loadscope` does); the long tables in SPREAD go to whichever worker is free."""
    for item in items:
        path = item.nodeid.split("::")[0]
        if path not in SPREAD:
            item.add_marker(pytest.mark.xdist_group(path))
