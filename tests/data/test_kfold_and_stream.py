"""K-fold writes its folds and their mean ± std into one run; streamed files train off
the training thread, each training row once per epoch."""

import json
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow


def run_dir_of(out: str, root: Path) -> Path:
    return root / out.strip().splitlines()[-1].removeprefix("run: ")


def test_kfold_trains_each_fold_into_one_run_and_reports_mean_and_std(cli, in_tmp):
    recipe = in_tmp / "iris.yaml"
    recipe.write_text(
        "model:\n  inputs: {input: {shape: [4]}}\n  nodes: {out: {class: Dense, units: 3, activation: softmax}}\n"
        "  outputs: {out: {loss: categorical_crossentropy, metrics: [accuracy]}}\n"
        "data: {source: iris, preprocess: {scaler: standard}}\ntrain: {epochs: 3, batch_size: 16}\n"
    )
    code, out, err = cli("-q", "train", f"recipe={recipe}", "train.kfold=3")
    assert code == 0, err
    parent = run_dir_of(out, in_tmp)
    assert "3-fold cross-validation" in out and "mean ± std" in out  # --quiet keeps the results
    assert "epoch" not in err  # and drops the progress
    code, listed, _ = cli("runs", "list", "--json")
    (shown,) = json.loads(listed)  # the parent, whose folds are not runs of their own in the list
    assert shown["started"] is not None and shown["seconds"] > 0 and shown["status"] == "finished"
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
    code, out, err = cli("evaluate", str(parent), "--split", "val")  # each fold on its own fold, then mean ± std
    assert code == 0, err
    evaluated = json.loads((parent / "eval.json").read_text())
    assert evaluated["kfold"] == 3 and "mean ± std" in out
    assert evaluated["mean"]["accuracy"] == pytest.approx(summary["mean"]["val"]["accuracy"], abs=1e-6)
    assert (parent / "fold-3" / "plots" / "eval" / "val" / "out-confusion.png").is_file()

    # Cut short in fold 2 (its first epoch saved), before fold 3: --resume keeps fold 1,
    # resumes fold 2, trains fold 3, and ends where the uninterrupted run did.
    for name in ("model.keras", "metrics.json"):
        (parent / "fold-2" / name).unlink()
    shutil.rmtree(parent / "fold-3")
    (parent / "metrics.json").unlink()
    code, _, err = cli("evaluate", str(parent))  # fold 1 alone would pass for the cross-validation
    assert code == 2 and "is a K-fold run that did not finish (only fold-1 trained)" in " ".join(err.split())
    code, _, err = cli("train", "--resume", str(parent), "train.epochs=9")  # averaged folds must train alike
    assert code == 2 and "error: train.epochs: the folds of a K-fold run train alike" in " ".join(err.split())
    kept = (parent / "fold-1" / "model.keras").stat().st_mtime_ns
    code, out, err = cli("-q", "train", "--resume", str(parent))
    assert code == 0, err
    assert run_dir_of(out, in_tmp) == parent and (parent / "fold-1" / "model.keras").stat().st_mtime_ns == kept
    resumed = json.loads((parent / "metrics.json").read_text())
    assert resumed["folds"][0] == summary["folds"][0]
    for k in (1, 2):
        for split, metrics in summary["folds"][k].items():
            assert resumed["folds"][k][split] == pytest.approx(metrics, abs=1e-6)
    code, _, err = cli("train", "--resume", str(parent))
    assert code == 2 and "finished: all 3 folds trained" in err


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
    ids = {
        name: set(np.concatenate([p.x["input"][:, 0] for p in split.rows.parts()]).astype(int).tolist())
        for name, split in (("train", ds.train), ("val", ds.val), ("test", ds.test))
    }
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
        "data: {source: npz, path: shards, stream: true, preprocess: {scaler: standard}}\ntrain: {epochs: 2, batch_size: 16}\n"
    )
    code, out, err = cli("-q", "train", f"recipe={recipe}")
    assert code == 0, err
    run = run_dir_of(out, in_tmp)
    trained = json.loads((run / "metrics.json").read_text())
    code, _, err = cli("evaluate", str(run))
    assert code == 0, err
    assert json.loads((run / "eval.json").read_text())["metrics"]["accuracy"] == pytest.approx(
        trained["test"]["accuracy"], abs=1e-6
    )
    code, out, err = cli("export", str(run), "--format", "keras")
    assert code == 0 and "parity: max |keras - keras| = 0 on" in out, err  # on the streamed test split's first batch
    code, out, err = cli("predict", str(run), "--rows", "0")
    assert code == 0, err
    assert f"out: accuracy {trained['test']['accuracy']:.4f} against the given targets" in out
