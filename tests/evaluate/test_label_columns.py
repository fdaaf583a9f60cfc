"""Outputs of several target columns: multi-hot labels get scikit-learn's multi-label report (named by
their columns), soft targets are judged as probabilities, and a regression of several columns is
judged per column, each in its own units."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from tests.evaluate.conftest import train

pytestmark = pytest.mark.slow

TAGS = """\
data: {source: csv, path: tags.csv, features: [a, b], target: {chance: p, tags: [t1, t2, t3]}}
model:
  inputs: {x: {shape: [2]}}
  nodes:
    hidden: {class: Dense, units: 8, activation: relu}
    chance: {class: Dense, units: 1, activation: sigmoid}
    tags: {class: Dense, units: 3, activation: sigmoid, inputs: hidden}
  outputs: [chance, tags]
  loss: binary_crossentropy
train: {batch_size: 16}
"""

PRICES = """\
data:
  source: csv
  path: prices.csv
  features: [f1, f2]
  target: [price, tax]
  preprocess: {scaler: standard, target_scaler: standard}
model:
  inputs: {x: {shape: [2]}}
  nodes: {y: {class: Dense, units: 2}}
  outputs: {y: {loss: mse}}
train: {batch_size: 16}
"""


def _predictions(run_dir, split="test"):
    """The saved model's predictions and the targets of a split, by output name, computed here."""
    from dlcli.data import by_name
    from dlcli.runs.load import open_run

    opened = open_run(run_dir)
    dataset = opened.dataset()
    chosen = getattr(dataset, split)
    names = [o.name for o in dataset.preprocessor.io.outputs]
    predicted = by_name(opened.model.predict(chosen.x, verbose=0), names)
    return predicted, by_name(chosen.y, names), dataset.preprocessor


@pytest.fixture(scope="module")
def tags_run(cli_package, runs, tmp_path_factory):
    folder = tmp_path_factory.mktemp("tags")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(240, 2))
    frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "p": (1 / (1 + np.exp(-x.sum(1)))).round(3)})
    for i, column in enumerate(["t1", "t2", "t3"]):
        frame[column] = (x[:, i % 2] + 0.5 * i > 0).astype(int)
    frame.to_csv(folder / "tags.csv", index=False)
    (folder / "tags.yaml").write_text(TAGS)
    return train(cli_package, runs, f"recipe={folder / 'tags.yaml'}", f"data.path={folder / 'tags.csv'}"), folder


def test_multihot_columns_get_the_multi_label_report_and_soft_ones_their_errors(cli, tags_run):
    run, folder = tags_run
    code, out, err = cli("evaluate", run)
    assert code == 0, err
    assert "samples avg" in out and "t3" in out, out
    data = json.loads((run / "eval.json").read_text())
    predicted, truth, _ = _predictions(run)

    tags = data["outputs"]["tags"]
    y, scores = truth["tags"].astype(int), predicted["tags"]
    assert tags["kind"] == "multi-label" and tags["classes"] == ["t1", "t2", "t3"]
    expected = skm.classification_report(
        y, (scores >= 0.5).astype(int), target_names=["t1", "t2", "t3"], output_dict=True, zero_division=0
    )
    assert {"micro avg", "macro avg", "samples avg"} <= expected.keys() == tags["report"].keys()
    for key, value in expected.items():
        assert tags["report"][key] == pytest.approx(value), key
    assert tags["hamming_loss"] == pytest.approx(skm.hamming_loss(y, scores >= 0.5))
    assert tags["labels"]["t2"]["roc_auc"] == pytest.approx(skm.roc_auc_score(y[:, 1], scores[:, 1]))
    assert tags["roc_auc_macro"] == pytest.approx(skm.roc_auc_score(y, scores, average="macro"))
    assert {"plots/eval/test/tags-roc.png", "plots/eval/test/tags-pr.png"} <= set(data["plots"])

    chance = data["outputs"]["chance"]  # probabilities as targets: no classes, no threshold
    t, p = truth["chance"].reshape(-1).astype("float64"), predicted["chance"].reshape(-1).astype("float64")
    assert chance["kind"] == "soft" and "classes" not in chance
    assert chance["mae"] == pytest.approx(skm.mean_absolute_error(t, p), rel=1e-5)
    assert chance["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(t, p)), rel=1e-5)
    # the binary cross-entropy against soft targets: each sample twice, as 1 weighted t and as 0 weighted 1 - t
    both = skm.log_loss(np.r_[np.ones_like(t), np.zeros_like(t)], np.r_[p, p], sample_weight=np.r_[t, 1 - t])
    assert chance["cross_entropy"] == pytest.approx(both, rel=1e-5)

    # a labelled file is judged the same way
    code, out, err = cli("evaluate", run, "--input", folder / "tags.csv")
    assert code == 0, err
    judged = json.loads((run / "eval-1.json").read_text())["outputs"]
    assert judged["tags"]["kind"] == "multi-label" and judged["tags"]["report"]["t1"]["support"] > 0
    assert judged["chance"]["kind"] == "soft"


def test_a_regression_of_several_columns_is_judged_per_column_in_its_units(cli, cli_package, runs, tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(240, 2))
    frame = pd.DataFrame({"f1": x[:, 0], "f2": x[:, 1]})
    frame["price"], frame["tax"] = 1000 + 300 * x[:, 0], 5 + 0.1 * x[:, 1]
    frame.to_csv(tmp_path / "prices.csv", index=False)
    (tmp_path / "prices.yaml").write_text(PRICES)
    run = train(cli_package, runs, f"recipe={tmp_path / 'prices.yaml'}", f"data.path={tmp_path / 'prices.csv'}")
    code, out, err = cli("evaluate", run)
    assert code == 0, err
    data = json.loads((run / "eval.json").read_text())
    predicted, truth, pre = _predictions(run)
    true, predicted = pre.inverse_targets(truth["y"], "y"), pre.inverse_targets(predicted["y"], "y")
    assert true[:, 0].mean() > 500 and true[:, 1].mean() < 10  # original units: a price and a tax
    judged = data["outputs"]["y"]
    assert judged["kind"] == "regression" and list(judged["columns"]) == ["price", "tax"]
    for i, column in enumerate(["price", "tax"]):
        errors = judged["columns"][column]
        assert errors["mae"] == pytest.approx(skm.mean_absolute_error(true[:, i], predicted[:, i]), rel=1e-4)
        assert errors["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(true[:, i], predicted[:, i])), rel=1e-4)
        assert errors["r2"] == pytest.approx(skm.r2_score(true[:, i], predicted[:, i]), rel=1e-4, abs=1e-6)
        # the compiled metrics' original units: one figure per column, never price and tax averaged
        assert data["metrics"][f"{column}_mae_original"] == pytest.approx(errors["mae"], rel=1e-4)
        assert f"plots/eval/test/y-{column}-predicted-vs-actual.png" in data["plots"]
    assert "mae_original" not in data["metrics"]
    assert judged["mae"] == pytest.approx(skm.mean_absolute_error(true, predicted), rel=1e-4)  # pooled, as before
    assert judged["r2"] == pytest.approx(skm.r2_score(true, predicted), rel=1e-4, abs=1e-6)
    assert "per column" in out and "tax" in out
