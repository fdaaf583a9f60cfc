"""Outputs of several target columns: multi-hot labels get scikit-learn's multi-label report (named by
their columns), soft targets are judged as probabilities, and a regression of several columns is
judged per column, each in its own units."""

import json
import re

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from tests.evaluate.conftest import train

pytestmark = pytest.mark.slow

# One model, three outputs: a soft probability, three 0/1 labels, and a price and a tax (one trained run for all)
RECIPE = """\
data:
  source: csv
  features: [a, b]
  target: {chance: p, tags: [t1, t2, t3], money: [price, tax]}
  preprocess: {target_scaler: standard}
model:
  inputs: {x: {shape: [2]}}
  nodes:
    hidden: {class: Dense, units: 8, activation: relu}
    chance: {class: Dense, units: 1, activation: sigmoid}
    tags: {class: Dense, units: 3, activation: sigmoid, inputs: hidden}
    money: {class: Dense, units: 2, inputs: hidden}
  outputs:
    chance: {loss: binary_crossentropy}
    tags: {loss: binary_crossentropy, metrics: [accuracy]}
    money: {loss: mse}
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
def judged(cli_package, runs, tmp_path_factory):
    """The run, its test split's eval.json, and the labelled file it was trained on."""
    folder = tmp_path_factory.mktemp("columns")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(240, 2))
    frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "p": (1 / (1 + np.exp(-x.sum(1)))).round(3)})
    for i, column in enumerate(["t1", "t2", "t3"]):
        frame[column] = (x[:, i % 2] + 0.5 * i > 0).astype(int)
    frame["price"], frame["tax"] = 1000 + 300 * x[:, 0], 5 + 0.1 * x[:, 1]
    frame.to_csv(folder / "data.csv", index=False)
    (folder / "columns.yaml").write_text(RECIPE)
    run = train(cli_package, runs, f"recipe={folder / 'columns.yaml'}", f"data.path={folder / 'data.csv'}")
    code, out, err = cli_package("evaluate", run)
    assert code == 0, err
    return run, json.loads((run / "eval.json").read_text()), out, folder / "data.csv"


def test_multihot_columns_get_the_multi_label_report_and_soft_ones_their_errors(judged):
    run, data, out, _ = judged
    assert "samples avg" in out and "t3" in out, out
    predicted, truth, _ = _predictions(run)

    tags = data["outputs"]["tags"]
    y, scores = truth["tags"].astype(int), predicted["tags"]
    assert tags["kind"] == "multi-label" and tags["classes"] == ["t1", "t2", "t3"]
    expected = skm.classification_report(
        y, (scores >= 0.5).astype(int), target_names=["t1", "t2", "t3"], output_dict=True, zero_division=0
    )
    assert {"micro avg", "macro avg", "samples avg"} <= expected.keys() == tags["report"].keys()
    # samples avg: a sample with no tag, predicted with none, is right (1 each); any other, scikit-learn's scores of its row
    cut = (scores >= 0.5).astype(int)
    for name, score in (("precision", skm.precision_score), ("recall", skm.recall_score), ("f1-score", skm.f1_score)):
        rows = [1.0 if t.sum() == q.sum() == 0 else score(t, q, zero_division=0) for t, q in zip(y, cut)]
        expected["samples avg"][name] = float(np.mean(rows))
    for key, value in expected.items():
        assert tags["report"][key] == pytest.approx(value), key
    assert tags["hamming_loss"] == pytest.approx(skm.hamming_loss(y, scores >= 0.5))
    # Keras' `accuracy` of several sigmoid units would be whether the top-scored one is a true label: trained
    # with a binary cross-entropy, it is each label's, as evaluate scores it
    trained = json.loads((run / "metrics.json").read_text())["test"]["tags_accuracy"]
    assert trained == pytest.approx(1 - tags["hamming_loss"], abs=1e-6)
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


def test_a_regression_of_several_columns_is_judged_per_column_in_its_units(judged):
    run, data, out, _ = judged
    predicted, truth, pre = _predictions(run)
    true, predicted = pre.inverse_targets(truth["money"], "money"), pre.inverse_targets(predicted["money"], "money")
    assert true[:, 0].mean() > 500 and true[:, 1].mean() < 10  # original units: a price and a tax
    money = data["outputs"]["money"]
    assert money["kind"] == "regression" and list(money["columns"]) == ["price", "tax"]
    for i, column in enumerate(["price", "tax"]):
        errors = money["columns"][column]
        assert errors["mae"] == pytest.approx(skm.mean_absolute_error(true[:, i], predicted[:, i]), rel=1e-4)
        assert errors["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(true[:, i], predicted[:, i])), rel=1e-4)
        assert errors["r2"] == pytest.approx(skm.r2_score(true[:, i], predicted[:, i]), rel=1e-4, abs=1e-6)
        # the compiled metrics' original units: one figure per column, never price and tax averaged
        assert data["metrics"][f"money_{column}_mae_original"] == pytest.approx(errors["mae"], rel=1e-4)
        assert f"plots/eval/test/money-{column}-predicted-vs-actual.png" in data["plots"]
    assert "money_mae_original" not in data["metrics"]
    assert money["mae"] == pytest.approx(skm.mean_absolute_error(true, predicted), rel=1e-4)  # pooled, as before
    assert money["r2"] == pytest.approx(skm.r2_score(true, predicted), rel=1e-4, abs=1e-6)
    assert "per column" in out and "all columns" in out
    # training saved the same per-column figures at its end (metrics.json), not per epoch (history.csv)
    saved = json.loads((run / "metrics.json").read_text())
    assert {"money_price_mae_original", "money_tax_mae_original"} <= saved["val"].keys() & saved["test"].keys()
    assert "_original" not in (run / "history.csv").read_text()


def test_predict_gives_each_regression_column_its_own_error_and_range(cli, judged):
    """A price and a tax averaged into one MAE would mean neither: predict names them as evaluate does."""
    run, data, _, _ = judged
    code, out, err = cli("predict", run, "--rows", "0")
    assert code == 0, err
    for column, errors in data["outputs"]["money"]["columns"].items():
        said = re.search(rf"^money {column}: mae (\S+) against the given targets$", out, re.M)
        assert said and float(said[1]) == pytest.approx(errors["mae"], rel=1e-4, abs=1e-4), out
        assert re.search(rf"^money {column}: min \S+  max \S+  mean \S+$", out, re.M), out
    assert "money: mae" not in out and "money: shape" not in out
    assert re.search(r"^chance: mae \S+ against", out, re.M)  # one column: one figure, as before


def test_a_labelled_file_is_judged_the_same_way(cli, judged):
    run, _, _, file = judged
    code, out, err = cli("evaluate", run, "--input", file)
    assert code == 0, err
    outputs = json.loads((run / "eval-1.json").read_text())["outputs"]
    assert outputs["tags"]["kind"] == "multi-label" and outputs["tags"]["report"]["t1"]["support"] == 107
    assert outputs["chance"]["kind"] == "soft" and list(outputs["money"]["columns"]) == ["price", "tax"]
