"""The shared pipeline: what happens between building a model and its first epoch."""

import uuid

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
    (in_tmp / "norm.yaml").write_text(
        NORMALIZED.replace("    norm: {class: Normalization}\n    hidden:", "    hidden:").replace(
            "    out: {class", "    norm: {class: Normalization}\n    out: {class"
        )
    )
    code, _, err = cli("-q", "train", "recipe=./norm.yaml")
    assert code == 2
    assert (
        "error: model.nodes.norm: Normalization learns its mean and variance from data (adapt), and dlcli adapts it only on a model input"
        in " ".join(err.split())
    )


METRIC = """
import keras


@keras.saving.register_keras_serializable(package="{module}")
def tf_habit(y_true, y_pred):  # a TensorFlow habit: JAX arrays have no .numpy()
    return keras.ops.mean(y_pred) / y_true.numpy().sum()
"""


def test_a_custom_metric_that_fails_on_its_own_is_not_blamed_on_the_labels(cli, in_tmp, monkeypatch):
    module = f"user_metrics_{uuid.uuid4().hex[:8]}"  # Keras' registry is process-wide
    (in_tmp / f"{module}.py").write_text(METRIC.format(module=module))
    monkeypatch.syspath_prepend(str(in_tmp))
    code, _, err = cli(
        "-q", "train", "recipe=digits_mlp", f"+plugins=[{module}]", "model.outputs.predictions.metrics=[tf_habit]"
    )
    flat = " ".join(err.split())
    assert code == 2
    assert (
        "error: model.outputs: Keras cannot compute the losses and metrics on a batch of this data:" in flat
        and "numpy" in flat
    )  # JAX's words
    assert "hint: check each output's loss and metrics, a plugin's own code included" in flat and "labels" not in flat
    assert not (in_tmp / "outputs").exists()
