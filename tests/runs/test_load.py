"""Reopening a finished run: what its commands are told when they ask for something it lacks."""

from types import SimpleNamespace

from dlcli.runs.load import no_split


def test_a_missing_split_hints_the_splits_the_run_has():
    problem = no_split(SimpleNamespace(train=1, val=None, test=1), "val", "score").problems[0]
    assert (problem.key, problem.message) == ("--split", "the run has no val split")
    assert problem.hint == "try --split test or --split train, or score a file with --input"
