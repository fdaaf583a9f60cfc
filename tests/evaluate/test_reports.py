"""`dlcli evaluate`'s reports equal scikit-learn's on the same predictions, and a threshold fit
on validation is the one `predict` applies."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from tests.evaluate.conftest import train

pytestmark = pytest.mark.slow


def _split(run_dir, split):
    """The run's split and the saved model's predictions on it, computed here without dlcli's evaluation."""
    from dlcli.runs.load import open_run

    opened = open_run(run_dir)
    dataset = opened.dataset()
    chosen = getattr(dataset, split)
    return chosen.y, opened.model.predict(chosen.x, verbose=0), dataset.preprocessor


def test_classification_report_matrix_and_auc_are_scikit_learns(cli, digits):
    run = digits
    code, out, err = cli("evaluate", run)
    assert code == 0, err
    judged = json.loads((run / "eval.json").read_text())["outputs"]["predictions"]
    y, probs, _ = _split(run, "test")
    true, predicted = y.argmax(axis=1), probs.argmax(axis=1)
    names = [str(i) for i in range(10)]
    expected = skm.classification_report(
        true, predicted, labels=range(10), target_names=names, output_dict=True, zero_division=0
    )
    assert judged["report"].keys() == expected.keys()
    for key, value in expected.items():
        assert judged["report"][key] == pytest.approx(value), key
    assert judged["confusion_matrix"] == skm.confusion_matrix(true, predicted, labels=range(10)).tolist()
    for average in ("macro", "weighted"):
        by_hand = skm.roc_auc_score(true, probs / probs.sum(1, keepdims=True), multi_class="ovr", average=average)
        assert judged[f"roc_auc_ovr_{average}"] == pytest.approx(by_hand, rel=1e-6)
    assert judged["log_loss"] == pytest.approx(
        skm.log_loss(true, probs / probs.sum(1, keepdims=True), labels=range(10)), rel=1e-5
    )
    assert "confusion matrix" in out and "macro avg" in out
    plots = run / "plots" / "eval" / "test"
    assert {p.name for p in plots.iterdir()} == {
        "predictions-confusion.png",
        "predictions-roc.png",
        "predictions-pr.png",
    }


def test_regression_errors_are_in_original_units(cli, runs):
    run = train(cli, runs, "recipe=diabetes_regression")  # its target_scaler: standard
    code, out, err = cli("evaluate", run, "--split", "val", "--batch-size", "7")
    assert code == 0, err
    judged = json.loads((run / "eval.json").read_text())["outputs"]
    (judged,) = judged.values()
    y, predicted, pre = _split(run, "val")
    name = pre.io.outputs[0].name
    true, predicted = pre.inverse_targets(y, name).reshape(-1), pre.inverse_targets(predicted, name).reshape(-1)
    assert true.mean() > 50  # the diabetes progression score, not its standardised value
    assert judged["r2"] == pytest.approx(skm.r2_score(true, predicted), rel=1e-4)
    assert judged["mae"] == pytest.approx(skm.mean_absolute_error(true, predicted), rel=1e-4)
    assert judged["mape"] == pytest.approx(skm.mean_absolute_percentage_error(true, predicted), rel=1e-4)
    assert (run / "plots" / "eval" / "val" / f"{name}-predicted-vs-actual.png").is_file()


def test_a_threshold_fit_on_validation_is_the_one_predict_applies(cli, breast_cancer):
    run = breast_cancer
    code, out, err = cli("evaluate", run, "--threshold", "best-f1")
    assert code == 0, err
    saved = json.loads((run / "threshold.json").read_text())
    (name,) = saved
    y, scores, _ = _split(run, "val")
    precision, recall, cuts = skm.precision_recall_curve(y.reshape(-1), scores.reshape(-1))
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    assert saved[name]["value"] == pytest.approx(cuts[np.argmax(f1[:-1])])
    assert saved[name]["method"] == "best-f1" and saved[name]["split"] == "val"

    code, out, err = cli("predict", run, "--batch-size", "5")
    assert code == 0, err
    written = pd.read_csv(run / "predictions" / "test.csv")
    probability = written[[c for c in written.columns if "_prob_" in c][0]]
    assert list(written[name].astype(int)) == list((probability >= saved[name]["value"]).astype(int))
    evaluated = json.loads((run / "eval.json").read_text())["outputs"][name]
    assert evaluated["report"]["accuracy"] == pytest.approx((written[name] == written[f"{name}_true"]).mean())

    code, _, err = cli("evaluate", run, "--threshold", "most")
    assert code == 2 and "--threshold" in err and "best-f1" in err


def test_multi_label_samples_f1_counts_a_sample_with_no_label_predicted_with_none_as_right():
    from dlcli.evaluation import Report, _multilabel

    y = np.array([[0, 0], [1, 0], [0, 1], [0, 0]])
    scores = np.array([[0.1, 0.2], [0.9, 0.1], [0.2, 0.8], [0.7, 0.1]])  # the last: a label it does not have
    out = _multilabel(scores, y, ["a", "b"], 0.5, True, Report({}, ""), "labels", "labels")
    assert out["summary"]["samples_f1"] == pytest.approx(0.75)  # 1, 1, 1 and 0; scikit-learn's default said 0.5
    assert out["summary"]["subset_accuracy"] == pytest.approx(0.75)
