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
