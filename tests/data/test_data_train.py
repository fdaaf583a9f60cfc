"""End to end through the real CLI: the offline recipes reach their quality, `evaluate`
reuses the saved preprocessing (checked against a hand computation), K-fold writes its
folds and their mean ± std, and streamed files train off the training thread."""

import json
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.slow


def run_dir_of(out: str, root: Path) -> Path:
    return root / out.strip().splitlines()[-1].removeprefix("run: ")


def test_breast_cancer_recipe_beats_093_test_accuracy(cli, in_tmp):
    code, out, err = cli("-q", "train", "recipe=breast_cancer_binary")
    assert code == 0, err
    metrics = json.loads((run_dir_of(out, in_tmp) / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] > 0.93


def test_diabetes_recipe_is_well_under_the_mean_baseline_in_original_units(cli, in_tmp):
    from sklearn.datasets import load_diabetes

    from dlcli.runs.load import open_run

    code, out, err = cli("-q", "train", "recipe=diabetes_regression")
    assert code == 0, err
    run = run_dir_of(out, in_tmp)
    metrics = json.loads((run / "metrics.json").read_text())
    index = open_run(run).dataset().index
    y = load_diabetes().target
    baseline = np.mean(np.abs(y[index["test"]] - y[index["train"]].mean()))  # predict the training mean
    assert metrics["test"]["mae_original"] < 0.8 * baseline, (metrics["test"], baseline)
    assert "mae_original" in metrics["val"] and metrics["test"]["loss"] < 1  # the loss is in scaled units


def _wine_like(root: Path) -> dict[str, pd.DataFrame]:
    """Three CSV files shaped like seed 001's: 11 columns, features 0:9, target (alcohol) in column 10."""
    rng = np.random.default_rng(5)
    weights = rng.normal(size=9)
    frames = {}
    for split, n in (("train", 300), ("val", 60), ("test", 80)):
        x = rng.normal(loc=3, scale=[1, 2, 3, 1, 2, 3, 1, 2, 3], size=(n, 9))
        frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(9)])
        frame["sulphates"] = rng.normal(size=n)
        frame["alcohol"] = 10 + x @ weights * 0.3 + rng.normal(scale=0.2, size=n)
        (root / split).mkdir()
        frame.to_csv(root / split / f"{split}_data.csv", index=False)
        frames[split] = frame
    return frames


def test_evaluate_reuses_the_scalers_fit_on_train_as_computed_by_hand(cli, in_tmp):
    import keras
    from sklearn.preprocessing import StandardScaler

    frames = _wine_like(in_tmp)
    paths = [f"data.{s}_path={in_tmp / s / f'{s}_data.csv'}" for s in ("train", "val", "test")]
    code, out, err = cli("-q", "train", "recipe=wine_quality_shallow", "train.epochs=5", *paths)
    assert code == 0, err
    run = run_dir_of(out, in_tmp)
    state = json.loads((run / "preprocess.json").read_text())["state"]
    x_scaler = StandardScaler().fit(frames["train"].iloc[:, 0:9])
    y_scaler = StandardScaler().fit(frames["train"][["alcohol"]])
    np.testing.assert_allclose(state["x"]["input"]["offset"], x_scaler.mean_, rtol=1e-6)
    np.testing.assert_allclose(state["x"]["input"]["scale"], x_scaler.scale_, rtol=1e-6)
    np.testing.assert_allclose(state["y"]["final"]["offset"], y_scaler.mean_, rtol=1e-6)

    code, out, err = cli("evaluate", str(run))
    assert code == 0, err
    evaluated = json.loads((run / "eval.json").read_text())["metrics"]
    model = keras.saving.load_model(run / "model.keras")
    x_test = x_scaler.transform(frames["test"].iloc[:, 0:9]).astype("float32")
    y_test = y_scaler.transform(frames["test"][["alcohol"]]).astype("float32")[:, 0]
    assert evaluated["loss"] == pytest.approx(model.evaluate(x_test, y_test, verbose=0), rel=1e-4)
    predicted = y_scaler.inverse_transform(model.predict(x_test, verbose=0))[:, 0]
    assert evaluated["mae_original"] == pytest.approx(np.mean(np.abs(predicted - frames["test"]["alcohol"])), rel=1e-4)
    trained = json.loads((run / "metrics.json").read_text())
    assert evaluated["mae_original"] == pytest.approx(trained["test"]["mae_original"], rel=1e-5)


def test_seizure_recipe_on_a_csv_shaped_like_uci(cli, in_tmp):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(250, 178)), columns=[f"X{i}" for i in range(1, 179)])
    frame.insert(0, "Unnamed", [f"X{i}.V1.{i}" for i in range(250)])
    frame["y"] = np.arange(250) % 5 + 1
    frame.loc[frame["y"] == 1, "X5"] += 4  # seizures are visible in one channel
    frame.to_csv(in_tmp / "seizure.csv", index=False)
    code, out, err = cli("-q", "train", "recipe=seizure_binary", "data.path=seizure.csv", "train.epochs=15")
    assert code == 0, err
    run = run_dir_of(out, in_tmp)
    assert len(json.loads((run / "preprocess.json").read_text())["state"]["x"]["input"]["offset"]) == 178
    assert json.loads((run / "metrics.json").read_text())["test"]["accuracy"] >= 0.9


def test_kfold_trains_each_fold_into_one_run_and_reports_mean_and_std(cli, in_tmp):
    code, out, err = cli("-q", "train", "recipe=breast_cancer_binary", "train.kfold=3", "train.epochs=3")
    assert code == 0, err
    parent = run_dir_of(out, in_tmp)
    assert "3-fold cross-validation" in out and "mean ± std" in out
    summary = json.loads((parent / "metrics.json").read_text())
    assert summary["kfold"] == 3 and len(summary["folds"]) == 3
    for k, fold in enumerate(summary["folds"], start=1):
        assert (parent / f"fold-{k}" / "model.keras").is_file()
        assert json.loads((parent / f"fold-{k}" / "metrics.json").read_text()) == fold
        assert "fold: " + str(k) in (parent / f"fold-{k}" / "config.yaml").read_text()
    accuracies = [f["val"]["accuracy"] for f in summary["folds"]]
    assert summary["mean"]["val"]["accuracy"] == pytest.approx(np.mean(accuracies))
    assert summary["std"]["val"]["accuracy"] == pytest.approx(np.std(accuracies))
    # A fold reopens with its own validation split; the parent points at its folds.
    code, _, err = cli("evaluate", str(parent / "fold-2"), "--split", "val")
    assert code == 0, err
    evaluated = json.loads((parent / "fold-2" / "eval.json").read_text())
    assert evaluated["metrics"]["accuracy"] == pytest.approx(summary["folds"][1]["val"]["accuracy"], abs=1e-6)
    code, _, err = cli("evaluate", str(parent))
    assert code == 2 and "is a K-fold run" in err


@pytest.fixture
def shards(in_tmp):
    """Six npz files of 40 rows; feature 0 is a unique row id, the class depends on feature 1."""
    rng = np.random.default_rng(0)
    root = in_tmp / "shards"
    root.mkdir()
    for i in range(6):
        ids = np.arange(i * 40, (i + 1) * 40)
        signal = rng.normal(size=40)
        x = np.column_stack([ids, signal, rng.normal(size=(40, 2))]).astype("float32")
        np.savez(root / f"part-{i:02d}.npz", x=x, y=(signal > 0).astype("int64"))
    return root


def test_streamed_batches_cover_the_training_split_once_per_epoch_off_the_main_thread(shards):
    import keras

    from dlcli import data
    from tests.data.helpers import data_cfg, io

    cfg = data_cfg(source="npz", path=str(shards), stream=True, workers=2)
    ds = data.load(cfg, io(4, "sparse_categorical_crossentropy", 2), seed=0)
    assert (len(ds.train), len(ds.val), len(ds.test)) == (172, 20, 48)
    ids = {name: set(np.concatenate([p.x["input"][:, 0] for p in split.rows.parts()]).astype(int).tolist()) for name, split in (("train", ds.train), ("val", ds.val), ("test", ds.test))}
    assert not ids["train"] & ids["val"] and not ids["train"] & ids["test"] and not ids["val"] & ids["test"]

    sequence = ds.train.sequence(16, shuffle=True)
    epochs = []
    for _ in range(2):
        epochs.append(np.concatenate([sequence[i][0][:, 0] for i in range(len(sequence))]).astype(int).tolist())
        sequence.on_epoch_end()
    assert sorted(epochs[0]) == sorted(ids["train"]) == sorted(epochs[1])  # every training row once per epoch
    assert epochs[0] != epochs[1]  # in a new order each epoch

    threads = set()
    make_batch = sequence.make_batch

    def recording(part):
        threads.add(threading.current_thread().name)
        return make_batch(part)

    sequence.make_batch = recording
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(sequence, shuffle=False, epochs=2, verbose=0)
    assert threads and threading.main_thread().name not in threads


def test_streamed_training_and_evaluate_from_the_cli(cli, in_tmp, shards):
    recipe = in_tmp / "stream.yaml"
    recipe.write_text(
        "model:\n  inputs: {input: {shape: [4]}}\n  nodes: {out: {class: Dense, units: 2, activation: softmax}}\n"
        "  outputs: {out: {loss: sparse_categorical_crossentropy, metrics: [accuracy]}}\n"
        "data: {source: npz, path: shards, stream: true, preprocess: {scaler: standard}}\ntrain: {epochs: 3, batch_size: 16}\n"
    )
    code, out, err = cli("-q", "train", f"recipe={recipe}")
    assert code == 0, err
    run = run_dir_of(out, in_tmp)
    trained = json.loads((run / "metrics.json").read_text())
    code, _, err = cli("evaluate", str(run))
    assert code == 0, err
    assert json.loads((run / "eval.json").read_text())["metrics"]["accuracy"] == pytest.approx(trained["test"]["accuracy"], abs=1e-6)
