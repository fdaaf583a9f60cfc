"""Each Keras built-in from config acts in a real run, and what it writes lands in the run directory.

LearningRateScheduler is checked with the seeds' callbacks (test_seed_callbacks.py).
"""

import json
import math

import keras
import pytest

from tests.callbacks.training import history, train_in

pytestmark = pytest.mark.slow

DIGITS = """
defaults:
  - override /model: digits_mlp
  - override /data: digits
seed: 3
"""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """One run with every built-in that acts at epoch ends: each is checked by a test below."""
    where = tmp_path_factory.mktemp("builtins")
    (where / "builtins.yaml").write_text(
        DIGITS
        + """
train: {epochs: 20}
callbacks:
  early_stopping: {class: EarlyStopping, monitor: val_loss, patience: 2, min_delta: 10}
  reduce_lr: {class: ReduceLROnPlateau, monitor: val_loss, patience: 1, min_delta: 10, factor: 0.5}
  checkpoint: {class: ModelCheckpoint, filepath: "ckpt/model-weights.{epoch:02d}-{val_acc:.6f}.keras", monitor: val_acc, save_best_only: true}
  csv: {class: CSVLogger, filename: training.log}
  backup: {class: BackupAndRestore, backup_dir: backup, delete_checkpoint: false}
"""
    )
    code, run_dir, err = train_in(where, "recipe=builtins.yaml")
    assert code == 0, err
    return run_dir


def test_early_stopping_stops(run_dir):
    assert len(history(run_dir)) == 3  # the best epoch, then two without a 10-point improvement


def test_reduce_lr_on_plateau_halves_the_rate(run_dir):
    # ReduceLROnPlateau logs the rate an epoch ran with, then halves it.
    assert [row["learning_rate"] for row in history(run_dir)] == pytest.approx([1e-3, 1e-3, 5e-4])
    model = keras.saving.load_model(run_dir / "model.keras")
    assert float(model.optimizer.learning_rate) == pytest.approx(2.5e-4)


def test_model_checkpoint_names_files_by_the_keras2_template(run_dir):
    rows = history(run_dir)
    best, expected = -math.inf, set()
    for row in rows:  # save_best_only on val_acc, which Keras 3 logs as val_accuracy
        if row["val_accuracy"] > best:
            best = row["val_accuracy"]
            expected.add(f"model-weights.{int(row['epoch']):02d}-{row['val_accuracy']:.6f}.keras")
    assert {p.name for p in (run_dir / "ckpt").iterdir()} == expected
    assert "val_acc" not in rows[0]  # the alias is for the callbacks, not the history


def test_csv_logger_writes_into_the_run(run_dir):
    lines = (run_dir / "training.log").read_text().splitlines()
    assert lines[0].startswith("epoch,") and [line.split(",")[0] for line in lines[1:]] == ["0", "1", "2"]


def test_backup_and_restore_keeps_its_backup_in_the_run(run_dir):
    metadata = json.loads((run_dir / "backup" / "training_metadata.json").read_text())
    assert metadata["epoch"] == 3
    assert (run_dir / "backup" / "latest.weights.h5").is_file()


@pytest.mark.parametrize("steps", ["1", "4"])  # a NaN mean loss stays NaN: several steps an execution still stop
def test_terminate_on_nan_stops_in_the_first_epoch(recipe, tmp_path, steps):
    path = recipe(
        """
defaults:
  - override /data: digits
model:
  inputs: {input: {shape: [10]}}
  nodes: {out: {class: Dense, units: 1}}
  outputs: {out: {loss: mse}}
data: {source: diabetes, preprocess: {divide_by: null}}
optimizer: {name: sgd, learning_rate: 1.0e+6}
train: {epochs: 5}
callbacks:
  nan: {class: TerminateOnNaN}
"""
    )
    code, run_dir, err = train_in(tmp_path, f"recipe={path}", f"train.steps_per_execution={steps}")
    assert code == 1, err
    assert "the loss became" in err and "in epoch 1" in err
    assert not list((tmp_path / "outputs").rglob("model.keras"))


def test_restored_best_weights_are_what_the_final_metrics_describe(tmp_path):
    """EarlyStopping puts the best epoch's weights back: model.keras, and so the train and val rows, are that epoch's."""
    from dlcli.lifecycle import evaluate_split
    from dlcli.runs.load import open_run

    args = [
        "recipe=digits_mlp",
        "callbacks=early_stopping",
        "callbacks.early_stopping.patience=1",
        "optimizer.learning_rate=0.05",
        "train.epochs=10",
    ]
    code, run_dir, err = train_in(tmp_path, *args)
    assert code == 0, err
    rows = history(run_dir)
    best = min(range(len(rows)), key=lambda i: rows[i]["val_loss"])
    assert best < len(rows) - 1  # it stopped after the best epoch
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["train"] == pytest.approx({"accuracy": rows[best]["accuracy"], "loss": rows[best]["loss"]})
    assert metrics["val"] == pytest.approx({"accuracy": rows[best]["val_accuracy"], "loss": rows[best]["val_loss"]})
    run = open_run(run_dir)
    assert evaluate_split(run.model, run.dataset().val, 32)["loss"] == pytest.approx(rows[best]["val_loss"], rel=1e-4)
