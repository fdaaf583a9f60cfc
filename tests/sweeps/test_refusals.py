"""Mistakes in a sweep are exit 2 before any trial runs, and leave no sweep behind."""

import pytest

BASE = ["recipe=digits_mlp", "train.epochs=1", "data.limit=200"]


@pytest.mark.parametrize(
    "args, said",
    [
        (["train", "-m", *BASE, "optimizer.learning_rate=1e-3,-1"], "combination 2 of 2 is refused"),
        (["train", "-m", *BASE, "train.batch_sise=16,32"], "train.batch_sise"),
        (["train", "-m", *BASE, "optimizer.learning_rate=interval(1e-4,1e-1)"], "--search tpe"),
        (["sweep", *BASE, "train.batch_size=16,32", "--trials", "3"], "--trials is the budget of a search"),
        (["sweep", *BASE, "train.batch_size=16,32", "--search", "bayes"], "unknown search 'bayes'"),
        (["sweep", *BASE, "train.batch_size=int(interval(64,8))", "--search", "tpe"], "is empty"),
        (["train", "-m", "--smoke", *BASE, "train.batch_size=16,32"], "-m makes one per combination"),
    ],
    ids=[
        "bad-value",
        "unknown-key",
        "interval-in-grid",
        "trials-with-grid",
        "unknown-search",
        "empty-interval",
        "smoke",
    ],
)
def test_refused_before_any_trial(cli, in_tmp, args, said):
    code, _, stderr = cli(*args)
    assert code == 2, stderr
    assert said in " ".join(stderr.split())
    assert not list(in_tmp.glob("outputs/*/sweeps/*/sweep.yaml"))
    assert not list(in_tmp.glob("**/config.yaml"))
