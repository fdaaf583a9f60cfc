"""An output that gives logits (`from_logits: true`, no activation) is scored as the probabilities
they stand for: by its metrics while training, by predict's files and by evaluate's report alike."""

import json

import pandas as pd
import pytest

from tests.evaluate.conftest import train

pytestmark = pytest.mark.slow
LOGITS = [
    "model.nodes.final.activation=linear",
    "model.outputs.final.loss={class: BinaryCrossentropy, from_logits: true}",
]


def test_a_binary_output_of_logits_is_scored_on_its_probabilities(cli, runs):
    run = train(
        cli,
        runs,
        "recipe=breast_cancer_binary",
        "data.limit=200",
        *LOGITS,
        "model.outputs.final.metrics=[accuracy,auc]",
    )
    code, out, err = cli("predict", run)
    assert code == 0, err
    table = pd.read_csv(run / "predictions" / "test.csv")
    assert table["final_prob_1"].between(0, 1).all()  # not the logits themselves
    assert ((table["final_prob_1"] > 0.5).astype(int) == table["final"]).all()
    accuracy = float((table["final"] == table["final_true"]).mean())
    assert json.loads((run / "metrics.json").read_text())["test"]["accuracy"] == pytest.approx(accuracy, abs=1e-6)
    assert f"accuracy {accuracy:.4f}" in out
    code, out, err = cli("export", run, "--format", "keras")
    assert code == 0 and "note: output 'final' gives logits (from_logits: true)" in " ".join(out.split())


def test_a_metric_that_would_read_logits_as_probabilities_is_refused(cli):
    code, _, err = cli("check", "recipe=breast_cancer_binary", *LOGITS, "model.outputs.final.metrics=[mse]")
    assert code == 2 and "mse reads output 'final' as probabilities, but its loss takes logits" in err
