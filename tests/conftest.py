import os
import shutil
import tempfile

import pytest

# Keras reads its backend once, at first import: set it before any test imports it.
os.environ.setdefault("KERAS_BACKEND", "jax")


# XLA's backend at optimization level 0: a test's time is mostly compiling (a smoke run of
# inception_cnn takes 18 s instead of 26), not running its few batches. Its float results differ
# from level 2's in the last bits, and every comparison in the suite is between runs made under
# the same flags, so nothing checked depends on the level.
XLA_TEST_FLAG = "--xla_backend_optimization_level=0"

# The modules that take longest (seconds on 2 cores, `--durations=0`), run first: xdist's
# loadscope hands modules to workers in collection order, so a long one collected last would
# leave one worker running it alone at the end.
LONGEST_FIRST = [
    "tests/cli/test_smoke.py",  # 145
    "tests/test_docs.py",  # 136
    "tests/sweeps/test_processes.py",  # 73
    "tests/graph/test_recipes.py",  # 67
    "tests/runs/test_resume.py",  # 66
    "tests/scale/test_devices.py",  # 42
    "tests/data/test_kfold_and_stream.py",  # 36
    "tests/scale/test_processes.py",  # 34
]


def pytest_configure(config):
    """One JAX compilation cache for the whole test run, as users get one across their runs: each new
    model of an already compiled shape is then a cache hit (a digits_mlp run takes 2 s instead of 8).
    Set here, in the controlling process, so xdist's workers and the tests' subprocesses inherit it
    (XLA_TEST_FLAG too); it starts empty and is removed at the end, so no test depends on an earlier run."""
    if hasattr(config, "workerinput"):
        return
    if "DLCLI_JAX_CACHE" not in os.environ:
        config.dlcli_jax_cache = tempfile.mkdtemp(prefix="dlcli-tests-jax-")
        os.environ["DLCLI_JAX_CACHE"] = config.dlcli_jax_cache
    if "--xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {XLA_TEST_FLAG}".strip()


def pytest_collection_modifyitems(items):
    """LONGEST_FIRST's modules first (a stable sort: every module's own order is kept)."""
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


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
