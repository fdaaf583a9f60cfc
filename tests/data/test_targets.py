"""Every kind of target, read without Keras: an input as its own target (with that input's
preprocessing), soft probabilities, multi-hot rows, and samples that follow the model's shape."""

import json

import numpy as np
import pytest

from dlcli import data
from dlcli.data import sources
from dlcli.data.io import InputSpec, ModelIO, OutputSpec
from dlcli.data.preprocess import Preprocessor
from dlcli.errors import ConfigError
from dlcli.graph import parse
from tests.data.helpers import data_cfg


def one_to_one(shape_in, shape_out, loss, in_name="img", out_name="out"):
    """A parsed graph and the ModelIO its built model would give (no Keras)."""
    graph = parse(
        {
            "inputs": {in_name: {"shape": list(shape_in)}},
            "nodes": {out_name: {"class": "Dense", "units": 1, "inputs": in_name}},
            "outputs": {out_name: {"loss": loss}},
        }
    )
    return graph, ModelIO(
        [InputSpec(in_name, tuple(shape_in), "float32")], [OutputSpec(out_name, tuple(shape_out), loss)]
    )


@pytest.mark.parametrize("target", ["input", "img", "x"])
def test_a_target_that_is_the_input_gets_the_inputs_preprocessing(tmp_path, target):
    pixels = np.random.default_rng(0).integers(0, 256, (40, 8, 8)).astype("uint8")
    np.savez(tmp_path / "d.npz", x=pixels)
    cfg = data_cfg(
        source="npz", path=str(tmp_path / "d.npz"), target=target, stratify=False, preprocess={"divide_by": 255}
    )
    graph, io = one_to_one((64,), (8, 8, 1), "mse")
    ds = data.load(cfg, io, 0, done=data.read(cfg, graph, 0))
    # The input is flattened to its declared [64] and divided; the target is the same pixels,
    # divided too, in the output's own (8, 8, 1) shape.
    assert ds.train.x.shape == (len(ds.train), 64) and ds.train.y.shape == (len(ds.train), 8, 8, 1)
    np.testing.assert_allclose(ds.train.y.reshape(len(ds.train), 64), ds.train.x)
    np.testing.assert_allclose(ds.test.x * 255, pixels[ds.index["test"]].reshape(-1, 64), rtol=1e-6)
    saved = json.loads(json.dumps(ds.preprocessor.state))
    assert saved["echo"] == {"out": "img"} and saved["kinds"] == {"out": "input"} and not saved["y"]


def test_a_keras_set_target_names_its_arrays_or_the_input():
    graph, io = one_to_one((64,), (64,), "mse")
    cfg = data_cfg(source="digits", target="pixels")
    problems = sources.target_problems(cfg, io)
    assert [p.key for p in problems] == ["data.target"]
    assert "has arrays x (the samples) and y (the labels), not 'pixels'" in problems[0].message
    ds = data.load(data_cfg(source="digits", target="x", preprocess={"divide_by": 16}), io, 0)
    assert ds.train.y.max() <= 1.0 and np.array_equal(ds.train.y, ds.train.x)


def test_soft_binary_targets_pass_as_they_are_and_are_never_stratified(tmp_path):
    rng = np.random.default_rng(0)
    soft = rng.random(50).round(3)
    np.savez(tmp_path / "d.npz", x=rng.random((50, 3)), y=soft)
    graph, io = one_to_one((3,), (1,), "binary_crossentropy")
    cfg = data_cfg(source="npz", path=str(tmp_path / "d.npz"))  # stratify on: it must not apply to soft targets
    ds = data.load(cfg, io, 0, done=data.read(cfg, graph, 0))
    assert ds.preprocessor.kind("out") == "soft" and ds.preprocessor.state["classes"] == {}
    np.testing.assert_allclose(ds.train.y, soft[ds.index["train"]], rtol=1e-6)
    assert ds.preprocessor.decode(ds.test.y, "out").tolist() == pytest.approx(soft[ds.index["test"]].tolist())


def test_a_few_fractions_among_zero_one_labels_are_said():
    """One 0.5 among 0/1 labels makes every label soft: a typo would change the task, so it is said."""
    graph, io = one_to_one((3,), (1,), "binary_crossentropy")
    pre = Preprocessor({"labels": "auto"}, io)
    notes = pre.check_labels({"out": np.array([0.0, 1, 1, 0, 0.5, 1])})
    assert pre.kind("out") == "soft"
    assert notes == [
        "output 'out': 1 of 6 targets are fractions, so all are read as probabilities (soft labels), "
        "not classes; set data.preprocess.labels to say which"
    ]
    assert Preprocessor({"labels": "auto"}, io).check_labels({"out": np.array([0.2, 0.9, 0.4])}) == []  # all soft


def test_multihot_rows_pass_as_they_are_and_decode_to_zero_one():
    graph, io = one_to_one((3,), (4,), "binary_crossentropy")
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, (30, 4))
    pre = Preprocessor({"labels": "auto"}, io)
    pre.check_labels({"out": labels})
    assert pre.kind("out") == "multihot"
    np.testing.assert_array_equal(pre.encode({"out": pre.target(labels, "out", "train")}, io)["out"], labels)
    assert pre.decode(np.array([[0.9, 0.1, 0.6, 0.4]]), "out").tolist() == [[1, 0, 1, 0]]


@pytest.mark.parametrize("loss", ["categorical_crossentropy", "sparse_categorical_crossentropy"])
@pytest.mark.parametrize("row", [[1, 1, 0], [0, 0, 0]])
def test_rows_that_are_not_one_hot_name_no_class(loss, row):
    """argmax would train [1, 1, 0] as class 0 and [0, 0, 0] as class 0: refused instead."""
    graph, io = one_to_one((3,), (3,), loss)
    labels = np.eye(3, dtype="int64")[[0, 1, 2, 1]]
    labels[2] = row
    pre = Preprocessor({"labels": "auto"}, io)
    pre.check_labels({"out": labels})
    with pytest.raises(ConfigError) as caught:
        pre.encode({"out": pre.target(labels, "out", "train")}, io)
    assert f"1 of 4 target rows are not one-hot (such as {row})" in caught.value.problems[0].render()
    pre.encode({"out": pre.target(np.eye(3)[[0, 1, 2]], "out", "train")}, io)  # true one-hot rows pass


def test_soft_targets_outside_zero_one_are_refused_with_a_regression_hint():
    graph, io = one_to_one((3,), (1,), "binary_crossentropy")
    pre = Preprocessor({"labels": "soft"}, io)
    with pytest.raises(ConfigError) as caught:
        pre.target(np.array([0.5, 3.25]), "out", "train")
    text = caught.value.problems[0].render()
    assert (
        "binary_crossentropy takes soft targets as probabilities in [0, 1]; the train targets run from 0.5 to 3.25"
        in text
    )
    assert "use a regression loss such as mean_squared_error" in text


def test_samples_that_cannot_take_the_outputs_shape_name_both():
    graph, io = one_to_one((4,), (3,), "mse")
    pre = Preprocessor({}, io)
    with pytest.raises(ConfigError) as caught:
        pre.encode({"out": np.zeros((5, 2), "float32")}, io)
    assert caught.value.problems[0].key == "model.outputs.out"
    assert (
        "hold 2 value(s) a sample, shaped [2], but output 'out' gives 3, shaped [3]" in caught.value.problems[0].message
    )
