"""A 4-point grid through `dlcli train -m`, then what it leaves: summary.csv, best.yaml, plots,
HParams, and the runs commands over its trials."""

import itertools
import json

import pytest

from tests.sweeps.conftest import FAST, only_sweep, summary

pytestmark = pytest.mark.slow

RATES, BATCHES = ("0.001", "0.01"), ("16", "32")
GRID = [
    "recipe=digits_mlp",
    "train.epochs=1",
    *FAST,
    f"optimizer.learning_rate={','.join(RATES)}",
    f"train.batch_size={','.join(BATCHES)}",
]


@pytest.fixture(scope="module")
def grid(tmp_path_factory, invoke):
    runs_dir = tmp_path_factory.mktemp("grid") / "outputs"
    code, stdout, stderr = invoke("train", "-m", *GRID, "--runs-dir", runs_dir)
    assert code == 0, stderr
    return runs_dir, only_sweep(runs_dir), stdout


def test_every_combination_runs_once_in_hydras_order(grid):
    _, sweep, stdout = grid
    rows = summary(sweep)
    assert [r["state"] for r in rows] == ["finished"] * 4
    assert [(r["optimizer.learning_rate"], r["train.batch_size"]) for r in rows] == list(
        itertools.product(RATES, BATCHES)
    )
    for row in rows:
        trial = sweep / "trials" / row["trial"]
        assert json.loads((trial / "metrics.json").read_text())["val"]["loss"] == pytest.approx(float(row["val_loss"]))
        assert f"optimizer.learning_rate={row['optimizer.learning_rate']}" in (trial / "overrides.yaml").read_text()
    assert "best: trial" in stdout


def test_best_yaml_trains_the_best_trial_again(grid, invoke):
    runs_dir, sweep, _ = grid
    best = min(summary(sweep), key=lambda r: float(r["val_loss"]))
    code, stdout, stderr = invoke("train", f"recipe={sweep / 'best.yaml'}", "--runs-dir", runs_dir / "again", "-q")
    assert code == 0, stderr
    (metrics,) = (runs_dir / "again").glob("*/*/metrics.json")
    assert json.loads(metrics.read_text())["val"]["loss"] == pytest.approx(float(best["val_loss"]), rel=1e-5)


def test_plots_and_tensorboard_hparams(grid):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _, sweep, _ = grid
    assert (sweep / "plots" / "history.png").stat().st_size > 1000
    assert (sweep / "plots" / "params.png").stat().st_size > 1000
    events = EventAccumulator(str(sweep / "tensorboard" / "0")).Reload()
    assert "_hparams_/experiment" in events.PluginTagToContent("hparams")  # what the HParams dashboard reads
    assert events.Scalars("val_loss")[0].value == pytest.approx(float(summary(sweep)[0]["val_loss"]))


def test_runs_compare_shows_exactly_the_keys_that_differ(grid, invoke):
    runs_dir, sweep, _ = grid
    code, stdout, stderr = invoke("runs", "compare", sweep, "--json")
    assert code == 0, stderr
    table = json.loads(stdout)
    assert set(table["config"]) == {"optimizer.learning_rate", "train.batch_size"}
    assert table["config"]["train.batch_size"] == [16, 32, 16, 32]
    assert (sweep / "plots" / "curves.png").is_file()
    first, second = (f"{sweep.relative_to(runs_dir)}/trials/{n}" for n in (0, 2))
    code, stdout, _ = invoke("runs", "compare", first, second, "--csv", "--runs-dir", runs_dir)
    assert code == 0
    assert [line.split(",")[0] for line in stdout.splitlines()[:2]] == ["key", "optimizer.learning_rate"]


def test_runs_list_then_rm(grid, invoke):
    runs_dir, sweep, _ = grid
    code, stdout, _ = invoke("runs", "list", "digits_mlp", "--json", "--runs-dir", runs_dir)
    listed = {r["id"]: r for r in json.loads(stdout)}
    trial = f"{sweep.relative_to(runs_dir)}/trials/3"
    assert code == 0 and listed[trial]["status"] == "finished" and "val_loss" in listed[trial]["metrics"]
    code, _, _ = invoke("runs", "rm", trial, "--runs-dir", runs_dir, input="n\n")
    assert code == 0 and (runs_dir / trial).is_dir()
    code, _, _ = invoke("runs", "rm", trial, "--runs-dir", runs_dir, "--yes")
    assert code == 0 and not (runs_dir / trial).exists()


def test_another_sweeps_own_journal_is_no_storage_for_a_new_sweep(grid, invoke, tmp_path):
    _, sweep, _ = grid
    journal = sweep / "study.journal"
    before = journal.read_bytes()
    code, _, stderr = invoke("sweep", *GRID, "--storage", journal, "--runs-dir", tmp_path / "outputs")
    said = " ".join(stderr.split())
    assert code == 2 and f"is inside the sweep {sweep}" in said and f"--resume {sweep}" in said
    assert journal.read_bytes() == before and not (tmp_path / "outputs").exists()


def test_a_trial_resumed_by_train_is_listed_as_it_now_is_and_the_summary_stays(grid, invoke):
    runs_dir, sweep, _ = grid
    record, before = sweep / "trials" / "1.json", (sweep / "summary.csv").read_text()
    record.write_text(json.dumps({**json.loads(record.read_text()), "state": "pruned"}))  # as a pruned trial's
    trial = f"{sweep.relative_to(runs_dir)}/trials/1"

    def listed():
        code, stdout, _ = invoke("runs", "list", "digits_mlp", "--json", "--runs-dir", runs_dir)
        return {r["id"]: r["status"] for r in json.loads(stdout)}[trial]

    assert listed() == "pruned"
    code, _, stderr = invoke("train", "--resume", trial, "train.epochs=2", "--runs-dir", runs_dir)
    assert code == 0, stderr
    assert f"is trial 1 of the sweep {sweep}" in " ".join(stderr.split())
    assert listed() == "finished" and (sweep / "summary.csv").read_text() == before


def test_a_link_carrying_a_sweeps_folder_out_of_it_is_refused(grid, invoke, tmp_path):
    _, sweep, _ = grid
    outside = tmp_path / "outside"
    outside.mkdir()
    (sweep / "plots").rename(tmp_path / "plots-kept")
    (sweep / "plots").symlink_to(outside)
    try:
        code, _, stderr = invoke("sweep", "--resume", sweep)
        said = " ".join(stderr.split())
        assert code == 2 and "dlcli writes a sweep's files only inside it" in said and "remove the link" in said
        assert list(outside.iterdir()) == []
    finally:
        (sweep / "plots").unlink()
        (tmp_path / "plots-kept").rename(sweep / "plots")


@pytest.mark.parametrize("damage", ["garbage", "missing"])
def test_a_damaged_or_missing_journal_is_one_screen_and_is_not_made_anew(grid, invoke, tmp_path, damage):
    _, sweep, _ = grid
    journal, kept = sweep / "study.journal", tmp_path / "kept.journal"
    journal.rename(kept)
    if damage == "garbage":
        journal.write_text("garbage\n")
    try:
        code, _, stderr = invoke("sweep", "--resume", sweep)
        said = " ".join(stderr.split())
        assert code == 2 and ("holds no readable study" if damage == "garbage" else "is missing") in said
        assert "Traceback" not in stderr and journal.exists() == (damage == "garbage")
    finally:
        journal.unlink(missing_ok=True)
        kept.rename(journal)


def test_a_sweep_named_where_a_run_is_expected_is_refused(grid, invoke):
    runs_dir, sweep, _ = grid
    for named in (sweep, "digits_mlp/sweeps/latest"):
        code, _, stderr = invoke("ensemble", named, f"{sweep}/trials/0", "--runs-dir", runs_dir)
        assert code == 2 and "is a sweep, not a run: name one of its trials, SWEEP/trials/N" in " ".join(stderr.split())
