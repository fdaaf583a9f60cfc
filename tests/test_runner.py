"""The shared pipeline: what happens between building a model and its first epoch."""

import numpy as np
import pytest

NORMALIZED = """
description: a Normalization layer, adapted on the training split
model:
  inputs: {x: {shape: [30]}}
  nodes:
    norm: {class: Normalization}
    hidden: {class: Dense, units: 8, activation: relu}
    out: {class: Dense, units: 1, activation: sigmoid}
  outputs:
    out: {loss: binary_crossentropy, metrics: [accuracy]}
data: {source: breast_cancer}
train: {epochs: 1, batch_size: 32}
"""


@pytest.mark.slow
def test_normalization_is_adapted_on_the_training_split_only(cli, in_tmp):
    (in_tmp / "norm.yaml").write_text(NORMALIZED)
    code, out, err = cli("-q", "train", "recipe=./norm.yaml")
    assert code == 0, err
    from dlcli.runs.load import open_run

    run = open_run(in_tmp / out.strip().splitlines()[-1].removeprefix("run: "))
    layer, train = run.model.get_layer("norm"), run.dataset().train.x
    np.testing.assert_allclose(np.asarray(layer.mean)[0], train.mean(axis=0), rtol=1e-4)
    np.testing.assert_allclose(np.asarray(layer.variance)[0], train.var(axis=0), rtol=1e-3)


def test_normalization_that_reads_no_input_must_be_given_its_statistics(cli, in_tmp):
    (in_tmp / "norm.yaml").write_text(NORMALIZED.replace("    norm: {class: Normalization}\n    hidden:", "    hidden:").replace("    out: {class", "    norm: {class: Normalization}\n    out: {class"))
    code, _, err = cli("-q", "train", "recipe=./norm.yaml")
    assert code == 2
    assert "error: model.nodes.norm: Normalization learns its mean and variance from data (adapt), and dlcli adapts it only on a model input" in " ".join(err.split())
