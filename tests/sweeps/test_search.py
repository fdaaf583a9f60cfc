"""A small TPE search with a clearly bad region: the median pruner stops a bad trial, whose
run directory stays, marked pruned."""

import json

import pytest

from tests.sweeps.conftest import only_sweep, summary

pytestmark = pytest.mark.slow


def test_tpe_search_prunes_the_bad_region(tmp_path, invoke):
    runs_dir = tmp_path / "outputs"
    code, _, stderr = invoke(
        "sweep", "recipe=digits_mlp", "train.epochs=2", "data.limit=200",
        "optimizer.learning_rate=choice(0.03,1e-7)",  # 1e-7 learns nothing: val_accuracy stays at chance
        "--search", "tpe", "--trials", "4", "--metric", "val_accuracy", "--runs-dir", runs_dir,
    )  # fmt: skip
    assert code == 0, stderr
    sweep = only_sweep(runs_dir)
    rows = summary(sweep)
    assert len(rows) == 4
    pruned = [r for r in rows if r["state"] == "pruned"]
    assert pruned and all(r["optimizer.learning_rate"] == "1e-07" for r in pruned)
    trial = sweep / "trials" / pruned[0]["trial"]
    assert len((trial / "history.csv").read_text().splitlines()) - 1 < 2  # stopped before its last epoch
    assert (trial / "model.keras").is_file()  # an ordinary, short run
    code, stdout, _ = invoke("runs", "list", "--json", "--runs-dir", runs_dir)
    states = {r["id"].rsplit("/", 1)[1]: r["status"] for r in json.loads(stdout)}
    assert states[pruned[0]["trial"]] == "pruned"
    best = max((r for r in rows if r["state"] == "finished"), key=lambda r: float(r["val_accuracy"]))
    assert best["optimizer.learning_rate"] == "0.03"
