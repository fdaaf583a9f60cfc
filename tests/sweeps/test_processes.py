"""Where the process is the point: a sweep killed with SIGKILL and resumed, trials in worker
processes (--jobs), and a second worker joining a journal-file study (--join)."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.sweeps.conftest import only_sweep, summary

pytestmark = pytest.mark.slow

GRID = ["recipe=digits_mlp", "train.epochs=3", "data.limit=200", "optimizer.learning_rate=0.001,0.03"]


def _dlcli(*args, cwd):
    return subprocess.Popen(
        [sys.executable, "-m", "dlcli", "-q", *map(str, args)],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )


def _wait_for(pattern_root, pattern, process, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = list(pattern_root.glob(pattern))
        if found:
            return found
        assert process.poll() is None, process.stderr.read().decode()
        time.sleep(0.1)
    raise AssertionError(f"nothing matched {pattern} in {timeout}s")


def test_sigkill_then_resume_ends_as_the_uninterrupted_sweep(tmp_path, invoke):
    code, _, stderr = invoke("sweep", *GRID, "--runs-dir", tmp_path / "whole")
    assert code == 0, stderr
    whole = summary(only_sweep(tmp_path / "whole"))

    killed = _dlcli("sweep", *GRID, "--runs-dir", tmp_path / "cut", cwd=tmp_path)
    _wait_for(tmp_path / "cut", "*/sweeps/*/trials/1/state/*", killed)  # trial 1 has saved an epoch
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    sweep = only_sweep(tmp_path / "cut")
    code, _, stderr = invoke("sweep", "--resume", sweep)
    assert code == 0, stderr

    rows = summary(sweep)
    assert [(r["trial"], r["state"]) for r in rows] == [("0", "finished"), ("1", "finished")]
    resumed = (sweep / "trials" / "1" / "overrides.yaml").read_text()
    assert "resumed:" in resumed and "after_epoch: 0" not in resumed  # continued, not started over
    assert len((sweep / "trials" / "1" / "history.csv").read_text().splitlines()) == 1 + 3
    for cut, full in zip(rows, whole):
        assert float(cut["val_loss"]) == pytest.approx(float(full["val_loss"]), rel=1e-5)


def test_jobs_runs_each_trial_in_its_own_process(tmp_path, invoke):
    runs_dir = tmp_path / "outputs"
    code, _, stderr = invoke(
        "sweep",
        *GRID[:3],
        "train.epochs=1",
        "optimizer.learning_rate=0.001,0.03",
        "--jobs",
        "2",
        "--runs-dir",
        runs_dir,
    )
    assert code == 0, stderr
    sweep = only_sweep(runs_dir)
    rows = summary(sweep)
    assert [r["state"] for r in rows] == ["finished", "finished"]
    assert len({r["run_dir"] for r in rows}) == 2
    assert all((sweep / "trials" / r["trial"] / "metrics.json").is_file() for r in rows)
    assert sorted(p.name for p in (sweep / "logs").iterdir()) == ["0.log", "1.log"]  # one worker each


def test_two_workers_join_one_journal_study(tmp_path, invoke):
    import optuna

    journal = tmp_path / "study.journal"
    first = _dlcli(
        "sweep", *GRID[:3], "train.epochs=1", "optimizer.learning_rate=tag(log,interval(1e-3,1e-1))",
        "--search", "random", "--trials", "4", "--storage", journal, "--runs-dir", tmp_path / "outputs", cwd=tmp_path,
    )  # fmt: skip
    _wait_for(tmp_path, "outputs/*/sweeps/*/trials/0", first)
    code, _, stderr = invoke("sweep", "--join", journal)
    assert code == 0, stderr
    assert first.wait(timeout=300) == 0, first.stderr.read().decode()

    sweep = only_sweep(tmp_path / "outputs")
    rows = summary(sweep)
    assert [r["trial"] for r in rows] == ["0", "1", "2", "3"] and {r["state"] for r in rows} == {"finished"}
    assert len({r["optimizer.learning_rate"] for r in rows}) == 4  # the workers drew different values
    (study,) = optuna.get_all_study_summaries(
        optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    )
    trials = optuna.load_study(
        study_name=study.study_name,
        storage=optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal))),
    ).trials
    assert len({t.user_attrs["worker"] for t in trials}) == 2
    assert json.loads((sweep / "trials" / "0.json").read_text())["state"] == "finished"
