"""The offline recipes reach their quality end to end through the real CLI, and `evaluate`
reuses the saved preprocessing (checked against a hand computation with scikit-learn)."""

import json
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


def test_seizure_recipe_reads_a_csv_shaped_like_uci(cli, in_tmp):
    """An id column, X1..X178 and y in 1..5: the recipe picks the 178 features and class 1 against the rest."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(250, 178)), columns=[f"X{i}" for i in range(1, 179)])
    frame.insert(0, "Unnamed", [f"X{i}.V1.{i}" for i in range(250)])
    frame["y"] = np.arange(250) % 5 + 1
    frame.to_csv(in_tmp / "seizure.csv", index=False)
    code, out, err = cli("-q", "train", "recipe=seizure_binary", "data.path=seizure.csv", "train.epochs=2")
    assert code == 0, err
    run = run_dir_of(out, in_tmp)
    state = json.loads((run / "preprocess.json").read_text())["state"]
    assert len(state["x"]["input"]["offset"]) == 178 and state["classes"] == {}
    assert set(json.loads((run / "metrics.json").read_text())) == {"train", "val", "test"}
