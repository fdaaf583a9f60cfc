"""Two processes on one machine (keras.distribution.initialize, gloo on CPU) train one model:
each feeds its share of every batch, process 0 alone writes the run and prints, and the losses
are the one-process run's. The processes are the point, so this test starts two."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
ARGS = ["recipe=digits_mlp", "data.limit=200", "train.batch_size=32", "seed=3", "train.shuffle=false"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def start(work: Path, port: int, process: int, *args) -> subprocess.Popen:
    """`dlcli train` as process `process` of 2, joining at localhost:`port`."""
    common = ["distribution.strategy=data_parallel", f"distribution.coordinator=localhost:{port}"]
    common += ["distribution.num_processes=2", f"distribution.process_id={process}"]
    return subprocess.Popen(
        [sys.executable, "-m", "dlcli", "-q", "train", *args, *common],
        cwd=work,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def both(work: Path, *args) -> list[subprocess.CompletedProcess]:
    port = free_port()
    started = [start(work, port, i, *args) for i in (1, 0)]
    done = []
    for p in reversed(started):
        out, err = p.communicate(timeout=300)
        done.append(subprocess.CompletedProcess(p.args, p.returncode, out, err))
    return done  # process 0, process 1


def test_a_process_waiting_for_the_others_stops_at_ctrl_c(tmp_path):
    """JAX waits for the others in C++, where Python's handler cannot run: Ctrl-C must still end it."""
    port = free_port()
    alone = start(tmp_path, port, 0, *ARGS, "train.epochs=1")
    deadline = time.monotonic() + 120
    while True:  # process 0 listens on the port once it waits for the others
        assert alone.poll() is None and time.monotonic() < deadline, alone.stderr.read() if alone.poll() else ""
        with socket.socket() as s:
            if s.connect_ex(("localhost", port)) == 0:
                break
        time.sleep(0.2)
    alone.send_signal(signal.SIGINT)
    assert alone.wait(timeout=30) == -signal.SIGINT  # what a shell reports as 130
    assert "note: process 0 of 2: waiting for all 2 to join at localhost:" in alone.stderr.read()
    assert not (tmp_path / "outputs").exists()


def losses(run_dir: Path) -> list[float]:
    rows = (run_dir / "history.csv").read_text().splitlines()
    column = rows[0].split(",").index("loss")
    return [float(r.split(",")[column]) for r in rows[1:]]


def test_two_processes_train_as_one_and_resume(tmp_path, cli, monkeypatch):
    first = both(tmp_path, *ARGS, "train.epochs=1")
    assert [p.returncode for p in first] == [0, 0], first[0].stderr[-2000:] + first[1].stderr[-2000:]
    (run_dir,) = (tmp_path / "outputs" / "digits_mlp").glob("2*")  # process 1 wrote no run
    assert f"run: outputs/digits_mlp/{run_dir.name}" in first[0].stdout
    assert first[1].stdout == "" and "error" not in first[1].stderr  # gloo's C++ "connected" line included
    assert "Gloo" not in first[0].stdout
    resumed = both(tmp_path, "--resume", "digits_mlp/latest", "train.epochs=2")
    assert [p.returncode for p in resumed] == [0, 0], resumed[0].stderr[-2000:] + resumed[1].stderr[-2000:]
    monkeypatch.chdir(tmp_path)
    code, _, err = cli("-q", "train", *ARGS, "train.epochs=2", "run.name=one")
    assert code == 0, err
    (alone,) = (tmp_path / "outputs" / "one").glob("2*")
    two, one = losses(run_dir), losses(alone)
    assert len(two) == 2 and all(abs(a - b) < 1e-5 for a, b in zip(two, one)), (two, one)


def test_processes_given_different_configs_are_refused_by_all_before_training(tmp_path):
    """Process 1 with another data.limit would deadlock in the first evaluation: every process refuses."""
    port = free_port()
    started = [start(tmp_path, port, 1, *ARGS, "train.epochs=1", "data.limit=300")]
    started.append(start(tmp_path, port, 0, *ARGS, "train.epochs=1"))
    for p in started:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 2 and "error: data: process 1's data settings differ from process 0's" in err, err
    assert not (tmp_path / "outputs").exists()


def test_processes_with_different_device_counts_are_refused_as_they_join(tmp_path, monkeypatch):
    port = free_port()
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
    started = [start(tmp_path, port, 1, *ARGS, "train.epochs=1")]
    monkeypatch.delenv("XLA_FLAGS")
    started.append(start(tmp_path, port, 0, *ARGS, "train.epochs=1"))
    for p in started:
        _, err = p.communicate(timeout=300)
        assert (
            p.returncode == 2
            and "error: devices: the processes have different numbers of devices: process 0 1, process 1 2" in err
        ), err
