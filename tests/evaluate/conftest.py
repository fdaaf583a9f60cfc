"""Runs trained once for every test of this folder: one epoch on a little data."""

import pytest


def train(cli, runs, *args):
    code, out, err = cli("-q", "train", *args, "train.epochs=1", "--runs-dir", runs)
    assert code == 0, err
    return runs / out.strip().splitlines()[-1].removeprefix("run: ")


@pytest.fixture(scope="package")
def runs(tmp_path_factory):
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="package")
def digits(cli_package, runs):
    return train(cli_package, runs, "recipe=digits_mlp", "data.limit=200")


@pytest.fixture(scope="package")
def breast_cancer(cli_package, runs):
    return train(cli_package, runs, "recipe=breast_cancer_binary")


@pytest.fixture(scope="package")
def cli_package():
    """The `cli` fixture, for package-scoped runs."""
    from typer.testing import CliRunner

    from dlcli.cli import app

    def invoke(*args):
        result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    return invoke
