"""`dlcli train --resume`: a run killed in mid-epoch and resumed ends exactly like the run never interrupted."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from dlcli.errors import ConfigError
from dlcli.runs import snapshot
from tests.callbacks.training import history, train_in

# A test plugin: it blocks training at (epoch, batch) given by $BLOCK_AT, after
# touching $BLOCK_MARKER, so the test can kill the run in mid-epoch. Without
# $BLOCK_AT it does nothing, so every run below has the same config.
BLOCKER = """
import os, pathlib, time
import keras

@keras.saving.register_keras_serializable(package="tests")
class BlockAt(keras.callbacks.Callback):
    def get_config(self):
        return {}

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        spec = os.environ.get("BLOCK_AT")
        if spec and (self.epoch, batch) == tuple(map(int, spec.split(","))):
            pathlib.Path(os.environ["BLOCK_MARKER"]).write_text("blocked")
            time.sleep(600)
"""

# Everything whose state must survive: dropout's seeds, shuffling, Adam's
# moments, ReduceLROnPlateau and EarlyStopping's waits and bests (their
# min_delta makes them wait often), a schedule compounding the current rate,
# the best checkpoint so far, per-batch losses, Keras' CSV and TensorBoard.
RECIPE = """
defaults:
  - override /data: digits
seed: 5
plugins: [blocker]
model:
  inputs: {input: {shape: [64]}}
  nodes:
    dense1: {class: Dense, units: 32, activation: relu}
    drop: {class: Dropout, rate: 0.3}
    predictions: {class: Dense, units: 10, activation: softmax}
  outputs:
    predictions: {loss: categorical_crossentropy, metrics: [accuracy]}
optimizer: {name: adam, learning_rate: 0.01}
train: {epochs: 6, batch_size: 32}
callbacks:
  block: {class: BlockAt}
  early_stopping: {class: EarlyStopping, monitor: val_loss, patience: 3, min_delta: 0.05, restore_best_weights: true}
  reduce_lr: {class: ReduceLROnPlateau, monitor: val_loss, factor: 0.5, patience: 1, min_delta: 0.03}
  schedule: {class: LearningRateScheduler, schedule: "lr * 0.95"}
  checkpoint: {class: ModelCheckpoint, filepath: "ckpt/model-weights.{epoch:02d}-{val_acc:.6f}.keras", monitor: val_acc, save_best_only: true}
  losses: {class: LossHistory}
  csv: {class: CSVLogger, filename: training.log}
  tensorboard: {class: TensorBoard, update_freq: 5}
"""


def _workdir(root: Path, name: str) -> Path:
    where = root / name
    where.mkdir()
    (where / "blocker.py").write_text(BLOCKER)
    (where / "resumable.yaml").write_text(RECIPE)
    return where


def _start(where: Path, *args: str, block_at: str | None = None) -> subprocess.Popen:
    """`dlcli -q train ARGS` in a process of its own (to be killed), with the suite's compilation cache."""
    path = os.pathsep.join(p for p in (str(where), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": path, "KERAS_BACKEND": "jax"}
    env.pop("BLOCK_AT", None)
    if block_at:
        env.update(BLOCK_AT=block_at, BLOCK_MARKER=str(where / "blocked"))
    return subprocess.Popen(
        [sys.executable, "-m", "dlcli", "-q", "train", *args],
        cwd=where,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_until_blocked(proc: subprocess.Popen, where: Path, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not (where / "blocked").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"the run never reached the blocking batch (exit {proc.returncode}):\n{out}\n{err}")
        time.sleep(0.1)


def _weights(path: Path) -> list[np.ndarray]:
    return keras.saving.load_model(path).get_weights()


def _scalars(log_dir: Path, tag: str) -> list[tuple[int, float]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    reader = EventAccumulator(str(log_dir))
    reader.Reload()
    return [(e.step, e.value) for e in reader.Scalars(tag)]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    """The run no signal stopped, which every interrupted one must end as."""
    reference = _workdir(tmp_path_factory.mktemp("uninterrupted"), "reference")
    with pytest.MonkeyPatch.context() as patch:  # in this process, its plugin found as PYTHONPATH finds it
        patch.syspath_prepend(str(reference))
        code, run_dir, err = train_in(reference, "recipe=resumable.yaml")
    assert code == 0, err
    return run_dir


@pytest.mark.slow
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "sigterm"])
def test_a_run_killed_in_mid_epoch_resumes_to_the_same_result(tmp_path, uninterrupted, how, monkeypatch):
    killed = _workdir(tmp_path, "killed")
    victim = _start(killed, "recipe=resumable.yaml", block_at="3,10")  # epoch 4, batch 11
    _wait_until_blocked(victim, killed)
    victim.send_signal(how)
    _, err = victim.communicate()
    if how == signal.SIGTERM:  # what Slurm, Kubernetes and systemd send: handled as Ctrl-C is
        assert victim.returncode == 143 and "epochs 1-3 are saved" in err and "dlcli train --resume" in err
    (run_dir,) = (killed / "outputs" / "resumable").iterdir()
    assert [int(r["epoch"]) for r in history(run_dir)] == [1, 2, 3]  # the killed epoch is lost, nothing more

    monkeypatch.syspath_prepend(str(killed))  # the recipe's plugin, as PYTHONPATH gave it to the killed process
    code, resumed, err = train_in(killed, "--resume", "resumable/latest")  # in this process: the kill was the point
    assert code == 0 and resumed == run_dir, err
    ref_dir = uninterrupted

    for name in ("model.keras", "checkpoints/best.keras", "checkpoints/last.keras"):
        for mine, theirs in zip(_weights(run_dir / name), _weights(ref_dir / name), strict=True):
            np.testing.assert_array_equal(mine, theirs, err_msg=name)
    assert json.loads((run_dir / "metrics.json").read_text()) == json.loads((ref_dir / "metrics.json").read_text())
    for name in ("history.csv", "training.log", "loss_history.csv"):
        assert (run_dir / name).read_text() == (ref_dir / name).read_text(), name
    assert [int(r["epoch"]) for r in history(run_dir)] == list(range(1, 7))  # each epoch once
    assert sorted(p.name for p in (run_dir / "ckpt").iterdir()) == sorted(p.name for p in (ref_dir / "ckpt").iterdir())
    for part, tag in (("train", "epoch_learning_rate"), ("validation", "epoch_loss"), ("batch", "batch_loss")):
        assert _scalars(run_dir / "tensorboard" / part, tag) == _scalars(ref_dir / "tensorboard" / part, tag)
    assert "after_epoch: 3" in (run_dir / "overrides.yaml").read_text()


@pytest.mark.slow
def test_ctrl_c_saves_state_exits_130_and_says_how_to_resume(tmp_path):
    where = _workdir(tmp_path, "interrupted")
    proc = _start(where, "recipe=resumable.yaml", block_at="1,5")
    _wait_until_blocked(proc, where)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "Exception ignored" not in err
    (run_dir,) = (where / "outputs" / "resumable").iterdir()
    assert "epoch 1 is saved" in err
    assert f"dlcli train --resume {run_dir.relative_to(where)}" in " ".join(err.split())
    assert snapshot.read_snapshot(run_dir)[0]["epoch"] == 1
    assert [int(r["epoch"]) for r in history(run_dir)] == [1]


def test_a_start_killed_while_writing_its_first_files_leaves_no_run(tmp_path, cli, monkeypatch):
    """kill -9 just after config.yaml is written: the run was still hidden, so nothing is half-made;
    the next start removes the hidden folder."""
    dies = "import os, sys\nfrom dlcli.runs import env\nenv.describe = lambda: os._exit(137)  # env.json comes after config.yaml\n"
    dies += "from dlcli.cli import main\nsys.argv = ['dlcli', '-q', 'train', 'recipe=digits_mlp', 'train.epochs=1']\nmain()\n"
    env = {**os.environ, "KERAS_BACKEND": "jax", "DLCLI_JAX_CACHE": "off"}
    proc = subprocess.run([sys.executable, "-c", dies], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 137, proc.stderr
    (staged,) = (tmp_path / "outputs" / "digits_mlp").iterdir()
    assert staged.name.startswith(".") and (staged / "config.yaml").is_file()  # it died in the window
    monkeypatch.chdir(tmp_path)
    code, _, err = cli("train", "--resume", "latest")
    assert code == 2 and "no runs" in err
    from dlcli.runs import rundir

    fresh = rundir.stage(staged.parent)  # the next start there removes what the killed one left
    assert [p.name for p in staged.parent.iterdir()] == [fresh.name]


# --- a finished run, resumed ----------------------------------------------------------------

DIGITS = """
defaults:
  - override /model: digits_mlp
  - override /data: digits
seed: 11
train: {epochs: 2}
"""


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    where = tmp_path_factory.mktemp("finished")
    (where / "digits_small.yaml").write_text(DIGITS)
    code, run_dir, err = train_in(where, "recipe=digits_small.yaml")
    assert code == 0, err
    return where, run_dir


@pytest.mark.slow
def test_a_finished_run_trains_longer_exactly_like_a_longer_run(finished, tmp_path):
    where, original = finished
    run_dir = tmp_path / "copy"
    shutil.copytree(original, run_dir)
    code, resumed, err = train_in(where, "--resume", run_dir, "train.epochs=4")
    assert code == 0, err
    assert resumed == run_dir
    code, longer, err = train_in(where, "recipe=digits_small.yaml", "train.epochs=4")
    assert code == 0, err
    for mine, theirs in zip(_weights(run_dir / "model.keras"), _weights(longer / "model.keras"), strict=True):
        np.testing.assert_array_equal(mine, theirs)
    assert (run_dir / "history.csv").read_text() == (longer / "history.csv").read_text()
    assert "epochs: 4" in (run_dir / "config.yaml").read_text()


@pytest.mark.parametrize(
    "overrides, key, words",
    [
        (
            ["model.nodes.dense1.units=64", "optimizer.learning_rate=0.1"],
            "optimizer.learning_rate",
            ["model.nodes.dense1.units", "only train.epochs"],
        ),
        (["train.epochs=2"], "train.epochs", ["has trained 2 epochs", "N > 2"]),
        (["train.epochs=1"], "train.epochs", ["leaves nothing to do"]),
        (["recipe=mnist"], "recipe", ["its own recipe"]),
        (["train.epoch=5"], "train.epoch", ["no such key", "did you mean 'epochs'"]),
        (["~model.nodes.dense1"], "model.nodes.dense1.activation", ["--resume cannot change this"]),
        (["+callbacks.es={class: EarlyStopping}", "data.limit=10"], "data.limit", ["the run has None"]),
        (["optimizer=sgd"], "optimizer", ["--resume cannot change this", "picks another optimizer option"]),
    ],
)
def test_resume_refuses_what_would_make_it_another_run(finished, cli, monkeypatch, overrides, key, words):
    where, run_dir = finished
    monkeypatch.chdir(where)
    code, _, err = cli("train", "--resume", str(run_dir), *overrides)
    assert code == 2
    text = " ".join(err.split())
    assert f"error: {key}:" in text
    for word in words:
        assert word in text


def test_resume_picks_callbacks_from_the_group_as_train_does(finished, cli, monkeypatch, tmp_path):
    where, original = finished
    run_dir = tmp_path / "copy"
    shutil.copytree(original, run_dir)
    monkeypatch.chdir(where)
    code, _, err = cli("-q", "train", "--resume", str(run_dir), "train.epochs=3", "callbacks=[early_stopping]")
    assert code == 0, err
    assert "class: EarlyStopping" in (run_dir / "config.yaml").read_text()
    code, _, err = cli("train", "--resume", str(run_dir), "train.epochs=4", "callbacks=early_stoping")
    assert code == 2 and "did you mean 'early_stopping'" in err
    code, _, err = cli("-q", "train", "--resume", str(run_dir), "train.epochs=4", "distribution=data_parallel")
    assert code == 0, err  # a group option, as callbacks (on this one device)
    assert "strategy: data_parallel" in (run_dir / "config.yaml").read_text()
    code, _, err = cli("train", "--resume", str(run_dir), "train.epochs=5", "distribution=nope")
    assert code == 2 and "options for distribution: data_parallel, model_parallel, single" in err


@pytest.mark.parametrize("via", ["--config-dir", "DLCLI_CONFIG_PATH"])
def test_resume_picks_callbacks_from_a_config_dir(finished, cli, monkeypatch, tmp_path, via):
    where, original = finished
    run_dir = tmp_path / "copy"
    shutil.copytree(original, run_dir)
    team = tmp_path / "team_conf"
    (team / "callbacks").mkdir(parents=True)
    (team / "callbacks" / "team_log.yaml").write_text("team_log: {class: CSVLogger, filename: team.csv}\n")
    monkeypatch.chdir(where)
    args = ["--config-dir", str(team)] if via == "--config-dir" else []
    if via == "DLCLI_CONFIG_PATH":
        monkeypatch.setenv("DLCLI_CONFIG_PATH", str(team))
    code, _, err = cli("-q", "train", "--resume", str(run_dir), "train.epochs=3", "callbacks=team_log", *args)
    assert code == 0, err
    assert "class: CSVLogger" in (run_dir / "config.yaml").read_text()
    assert [r.split(",")[0] for r in (run_dir / "team.csv").read_text().splitlines()[1:]] == ["2"]  # epoch 3, from 0


def test_a_run_early_stopping_ended_trains_on_once_the_callback_is_removed(cli, in_tmp):
    (in_tmp / "digits_small.yaml").write_text(DIGITS)
    stop = "+callbacks.es={class: EarlyStopping, monitor: loss, min_delta: 100, patience: 0}"  # stops after epoch 2
    code, out, err = cli("-q", "train", "recipe=digits_small.yaml", "train.epochs=5", stop)
    assert code == 0, err
    run_dir = in_tmp / out.strip().splitlines()[-1].removeprefix("run: ")
    code, _, err = cli("train", "--resume", str(run_dir), "train.epochs=6")
    assert code == 2 and "es stopped it after epoch 2" in err and "~callbacks.es" in err
    code, _, err = cli("-q", "train", "--resume", str(run_dir), "train.epochs=4", "~callbacks.es")
    assert code == 0, err
    assert [int(r.split(",")[0]) for r in (run_dir / "history.csv").read_text().splitlines()[1:]] == [1, 2, 3, 4]


def test_a_run_another_process_is_writing_is_not_resumed_over_it(finished, cli, monkeypatch):
    from dlcli.runs import rundir

    where, run_dir = finished
    monkeypatch.chdir(where)
    before = (run_dir / "config.yaml").read_text()
    with rundir.lock(run_dir):  # as a training (or a first --resume) of it holds it
        code, _, err = cli("train", "--resume", str(run_dir), "train.epochs=3")
    assert code == 2 and "is in use: another dlcli process is writing it" in " ".join(err.split())
    assert (run_dir / "config.yaml").read_text() == before


def test_resume_of_an_unknown_run_is_a_usage_error(cli, in_tmp):
    code, _, err = cli("train", "--resume", "latest")
    assert code == 2 and "no runs" in err


# --- the snapshot itself ------------------------------------------------------------------


def test_snapshots_alternate_slots_and_survive_a_torn_write(tmp_path):
    state = tmp_path / snapshot.STATE_DIR
    arrays = {"var/0": np.arange(6, dtype="float32").reshape(2, 3), "var/1": np.array(7, dtype="int64")}
    snapshot.write_snapshot(state, {"epoch": 1}, arrays)
    snapshot.write_snapshot(state, {"epoch": 2}, {k: v + 1 for k, v in arrays.items()})
    meta, read = snapshot.read_snapshot(tmp_path)
    assert meta["epoch"] == 2 and meta["slot"] == 1
    assert read["var/1"].shape == () and int(read["var/1"]) == 8
    np.testing.assert_array_equal(read["var/0"], arrays["var/0"] + 1)
    (state / "slot-0.bin").write_bytes(b"half a snapshot")  # killed while writing the next one
    meta, read = snapshot.read_snapshot(tmp_path)
    assert meta["epoch"] == 2 and int(read["var/1"]) == 8


def test_a_bit_flipped_slot_is_detected_and_the_other_one_used(tmp_path):
    state = tmp_path / snapshot.STATE_DIR
    arrays = {"var/0": np.arange(6, dtype="float32").reshape(2, 3), "var/1": np.array(7, dtype="int64")}
    snapshot.write_snapshot(state, {"epoch": 1}, arrays)
    snapshot.write_snapshot(state, {"epoch": 2}, {k: v + 1 for k, v in arrays.items()})
    damaged = bytearray((state / "slot-1.bin").read_bytes())
    damaged[5] ^= 0x10  # one bit of epoch 2's weights
    (state / "slot-1.bin").write_bytes(bytes(damaged))
    meta, read = snapshot.read_snapshot(tmp_path)
    assert meta["epoch"] == 1 and meta["slot"] == 0
    np.testing.assert_array_equal(read["var/0"], arrays["var/0"])
    (state / "slot-0.bin").write_bytes(b"")  # both gone: the run cannot be resumed, and says so
    with pytest.raises(ConfigError, match="checksum does not match"):
        snapshot.read_snapshot(tmp_path)
