"""The seeds' callbacks on scikit-learn's bundled breast-cancer set: the custom ones dlcli ships, and seed 003's schedule."""

import math

import keras
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from tests.callbacks.training import history, train_in

pytestmark = pytest.mark.slow

BINARY = """
description: seed 001's binary classifier, on breast cancer
seed: 7
data: {source: breast_cancer, preprocess: {scaler: standard}}
model:
  inputs: {input: {shape: [30]}}
  nodes:
    hidden1: {class: Dense, units: 16, activation: relu}
    hidden2: {class: Dense, units: 8, activation: relu}
    final: {class: Dense, units: 1, activation: sigmoid}
  outputs:
    final: {loss: binary_crossentropy, metrics: [accuracy]}
train: {epochs: 4, batch_size: 32}
callbacks:
  roc_auc: {class: RocAucScore}
  best_auc: {class: ModelCheckpoint, filepath: "auc/{epoch:02d}-{val_roc_auc:.4f}.keras", monitor: val_roc_auc, save_best_only: true}
  activations: {class: ActivationLogger}
  losses: {class: LossHistory}
  schedule: {class: LearningRateScheduler, schedule: "0.01 / (1 + epoch)"}
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from dlcli.runs.load import open_run

    where = tmp_path_factory.mktemp("seeds")
    (where / "binary.yaml").write_text(BINARY)
    code, run_dir, err = train_in(where, "recipe=binary.yaml")
    assert code == 0, err
    opened = open_run(run_dir)
    return run_dir, opened.model, opened.dataset()


def test_roc_auc_equals_scikit_learns_on_the_same_predictions(run):
    run_dir, model, data = run
    last = history(run_dir)[-1]
    for prefix, split in (("", data.train), ("val_", data.val)):
        expected = roc_auc_score(split.y.reshape(-1), model.predict(split.x, batch_size=32, verbose=0).reshape(-1))
        assert last[prefix + "roc_auc"] == pytest.approx(expected, abs=1e-12)
    assert 0.5 < last["val_roc_auc"] <= 1


def test_checkpoint_can_monitor_the_roc_auc(run):
    run_dir, _, _ = run
    best, expected = -math.inf, set()
    for row in history(run_dir):  # mode max, filled in because Keras cannot infer it for roc_auc
        if row["val_roc_auc"] > best:
            best = row["val_roc_auc"]
            expected.add(f"{int(row['epoch']):02d}-{row['val_roc_auc']:.4f}.keras")
    assert {p.name for p in (run_dir / "auc").iterdir()} == expected


def test_activation_logger_saves_every_layer_for_the_first_validation_sample(run):
    run_dir, model, data = run
    files = sorted(p.name for p in (run_dir / "activations").iterdir())
    assert files == [f"epoch-{e:03d}.npz" for e in range(1, 5)]
    with np.load(run_dir / "activations" / "epoch-004.npz") as saved:
        assert {k: saved[k].shape for k in saved.files} == {"hidden1": (1, 16), "hidden2": (1, 8), "final": (1, 1)}
        np.testing.assert_allclose(saved["final"], model.predict(data.val.x[:1], verbose=0), rtol=1e-6)


def test_loss_history_has_every_batch_and_its_own_loss(run):
    run_dir, _, data = run
    rows = np.loadtxt(run_dir / "loss_history.csv", delimiter=",", skiprows=1)
    steps = math.ceil(len(data.train) / 32)
    assert rows.shape == (4 * steps, 4)
    sizes = np.array([min(32, len(data.train) - 32 * b) for b in range(steps)])
    for epoch, row in enumerate(history(run_dir), start=1):
        mine = rows[rows[:, 0] == epoch]
        assert mine[:, 1].tolist() == list(range(1, steps + 1))
        assert mine[-1, 2] == pytest.approx(row["loss"], rel=1e-6)  # Keras' running mean ends at the epoch's loss
        assert np.average(mine[:, 3], weights=sizes) == pytest.approx(row["loss"], rel=1e-4)


def test_learning_rate_follows_the_formula(run):
    run_dir, _, _ = run
    rates = [row["learning_rate"] for row in history(run_dir)]
    assert rates == pytest.approx([0.01 / (1 + epoch) for epoch in range(4)], rel=1e-6)


def test_roc_auc_score_handles_multiclass_outputs():
    from dlcli.callbacks.roc_auc import RocAucScore

    rng = np.random.default_rng(0)
    x = rng.standard_normal((60, 4)).astype("float32")
    labels = np.arange(60) % 3
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    callback = RocAucScore()
    callback.set_model(model)
    callback.batch_size = 16
    scores = model.predict(x, verbose=0)
    assert callback.score(x, np.eye(3)[labels]) == pytest.approx(roc_auc_score(np.eye(3)[labels], scores))
    assert callback.score(x, labels) == pytest.approx(roc_auc_score(labels, scores, multi_class="ovr"))
