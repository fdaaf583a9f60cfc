"""The speed settings: `train.steps_per_execution=auto` follows the measured step time and changes
no result; the resume snapshot is written in the background yet complete when training ends."""

import time

import numpy as np
import pytest

from dlcli import lifecycle
from dlcli.data import Split
from dlcli.runs import snapshot

# digits_mlp with its middle layer a Dropout, which draws from the seed generator every step: a
# curve that matches shows the steps are the same. 200 samples in batches of 32: a last, smaller one too.
DROPOUT = ["model.nodes.dense2.class=Dropout", "~model.nodes.dense2.units", "~model.nodes.dense2.activation"]
BASE = ["data.limit=200", "train.epochs=2", "train.batch_size=32", "seed=7", *DROPOUT, "+model.nodes.dense2.rate=0.5"]


@pytest.mark.parametrize(
    ("step_seconds", "batches", "expected"),
    [
        (0.005, 157, 20),  # mnist_dropout at batch 128 on 2 CPU cores: 20 steps, ~100 ms an execution
        (0.2, 157, 1),  # a step longer than the target: one step an execution
        (0.0001, 157, lifecycle.AUTO_MAX_STEPS),  # tiny steps: capped
        (0.0001, 7, 7),  # never more than an epoch's batches
    ],
)
def test_auto_steps_follow_the_measured_step_time(step_seconds, batches, expected):
    assert lifecycle.auto_steps(step_seconds, batches) == expected


class SlowModel:
    """A model whose every pass takes longer than one step per execution needs."""

    def __init__(self):
        self.passes = 0

    def test_on_batch(self, x, y):
        self.passes += 1
        time.sleep(lifecycle.AUTO_EXECUTION_SECONDS)


@pytest.mark.parametrize(("processes", "passes"), [(1, 1), (2, 5)])
def test_several_processes_measure_as_many_passes(processes, passes):
    """Each pass is a collective across the processes: one that stopped measuring early, on its own
    timing, would leave the others waiting in a collective of another size (gloo's 'mismatch')."""
    model = SlowModel()
    split = Split(np.zeros((8, 3), "float32"), np.zeros(8, "float32"))
    assert lifecycle._step_seconds(model, split, 4, processes) >= 3 * lifecycle.AUTO_EXECUTION_SECONDS
    assert model.passes == passes


class Counting(lifecycle.Observer):
    """Hears `batch_end` once per execution of training steps."""

    batches = True

    def __init__(self):
        self.executions = 0

    def batch_end(self, step, logs):
        self.executions += 1


def _train(tmp_path, name, *overrides):
    prepared = lifecycle.prepare("digits_mlp", [*BASE, f"run.dir={tmp_path}", f"run.name={name}", *overrides])
    lifecycle.read_data(prepared)
    built = lifecycle.build(prepared)
    observer = Counting()
    result = lifecycle.run(built, observer)
    return result, built.model, observer.executions


@pytest.mark.slow
def test_the_speed_settings_change_no_result(tmp_path):
    one, _, executions_one = _train(tmp_path, "one", "train.steps_per_execution=1")
    auto, model, executions_auto = _train(tmp_path, "auto")
    steps, batches = model.steps_per_execution, executions_one // 2
    assert steps > 1  # a step of this small model takes well under AUTO_EXECUTION_SECONDS
    assert executions_auto == 2 * -(-batches // steps)  # what Keras ran: ceil(batches / steps) an epoch
    curves = [np.loadtxt(r.run_dir / "history.csv", delimiter=",", skiprows=1) for r in (one, auto)]
    np.testing.assert_allclose(curves[0], curves[1], rtol=1e-5)
    meta, _ = snapshot.read_snapshot(auto.run_dir)
    assert meta["epoch"] == 2  # the background write of the last epoch's state finished with the run


def test_a_failed_background_write_is_raised_when_waited_for(tmp_path):
    blocker = tmp_path / "state"
    blocker.write_text("a file where the state directory should be")
    writer = snapshot.Writer()
    writer.write(blocker, {"epoch": 1}, {"var/0": np.zeros(3)})
    with pytest.raises(OSError):
        writer.wait()
    writer.wait()  # raised once: the writer is usable again


def test_steps_a_batch_reader_would_miss_are_refused_and_leave_no_folder(tmp_path, cli):
    where = tmp_path / "runs" / "deep"
    args = ["-q", "train", "recipe=digits_mlp", "data.limit=64", f"run.dir={where}", "callbacks=loss_history"]
    code, _, err = cli(*args, "train.steps_per_execution=4")
    assert code == 2 and "callbacks.loss_history reads every batch" in err, err
    assert list(tmp_path.iterdir()) == []  # not runs/deep/digits_mlp/, nor the folders above it


def test_callbacks_saving_at_each_epoch_do_not_need_every_batch(tmp_path):
    """Their batch hooks do nothing at save_freq="epoch": auto keeps its steps, a number is not refused."""
    import keras

    from dlcli.callbacks import batch_readers

    made = {
        "checkpoint": keras.callbacks.ModelCheckpoint(str(tmp_path / "a.keras"), save_freq="epoch"),
        "backup": keras.callbacks.BackupAndRestore(str(tmp_path / "b"), save_freq="epoch"),
        "every_10": keras.callbacks.ModelCheckpoint(str(tmp_path / "c.keras"), save_freq=10),
        "tensorboard": keras.callbacks.TensorBoard(str(tmp_path / "tb"), update_freq="batch"),
    }
    assert batch_readers(made) == ["every_10", "tensorboard"]
