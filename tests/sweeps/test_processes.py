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
    # the interrupted trial ends as it would have: the best (trial 1, rate 0.03) trained in one go
    code, _, stderr = invoke("train", *GRID[:3], "optimizer.learning_rate=0.03", "--runs-dir", tmp_path / "whole", "-q")
    assert code == 0, stderr
    (whole,) = (tmp_path / "whole").glob("*/*/metrics.json")
    assert float(rows[1]["val_loss"]) == pytest.approx(json.loads(whole.read_text())["val"]["loss"], rel=1e-5)
    assert float(rows[1]["val_loss"]) < float(rows[0]["val_loss"])


def test_jobs_and_a_joining_worker_share_one_journal_study(tmp_path, invoke):
    """A sweep with --jobs 2 (each trial in its own worker process) on a journal file, and a
    second sweep process joining that study: every trial once, each in its own run directory."""
    import optuna

    journal = tmp_path / "study.journal"
    rates = ["0.001", "0.003", "0.01", "0.03"]
    first = _dlcli(
        "sweep", *GRID[:3], "train.epochs=1", f"optimizer.learning_rate={','.join(rates)}", "--jobs", "2",
        "--storage", journal, "--runs-dir", tmp_path / "outputs", cwd=tmp_path,
    )  # fmt: skip
    _wait_for(tmp_path, "outputs/*/sweeps/*/trials/0", first)
    code, _, stderr = invoke("sweep", "--join", journal)
    assert code == 0, stderr
    assert first.wait(timeout=300) == 0, first.stderr.read().decode()

    sweep = only_sweep(tmp_path / "outputs")
    rows = summary(sweep)
    assert [(r["trial"], r["optimizer.learning_rate"], r["state"]) for r in rows] == [
        (str(n), rate, "finished") for n, rate in enumerate(rates)
    ]
    assert len({r["run_dir"] for r in rows}) == 4
    assert all(json.loads((sweep / "trials" / f"{n}.json").read_text())["state"] == "finished" for n in range(4))
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    (study,) = optuna.get_all_study_summaries(storage)
    workers = {t.user_attrs["worker"] for t in optuna.load_study(study_name=study.study_name, storage=storage).trials}
    assert len(workers) >= 3  # two worker processes of the first sweep, and the joining one
