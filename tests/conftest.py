import os
import shutil
import tempfile

import pytest

# Keras reads its backend once, at first import: set it before any test imports it.
os.environ.setdefault("KERAS_BACKEND", "jax")


def pytest_configure(config):
    """One JAX compilation cache for the whole test run, as users get one across their runs: each new
    model of an already compiled shape is then a cache hit (a digits_mlp run takes 2 s instead of 8).
    Set here, in the controlling process, so xdist's workers and the tests' subprocesses inherit it;
    it starts empty and is removed at the end, so no test depends on an earlier run."""
    if "DLCLI_JAX_CACHE" not in os.environ and not hasattr(config, "workerinput"):
        config.dlcli_jax_cache = tempfile.mkdtemp(prefix="dlcli-tests-jax-")
        os.environ["DLCLI_JAX_CACHE"] = config.dlcli_jax_cache


def pytest_unconfigure(config):
    cache = getattr(config, "dlcli_jax_cache", None)
    if cache:
        shutil.rmtree(cache, ignore_errors=True)


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
