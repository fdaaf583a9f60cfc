"""Preprocessing is fit on the training split only (compared with scikit-learn by hand),
applied unchanged to val and test, reused from a saved state, and encodes labels as the loss wants."""

import json

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from dlcli import data
from dlcli.errors import ConfigError
from tests.data.helpers import data_cfg, graph, io


@pytest.mark.parametrize("kind, scaler", [("standard", StandardScaler), ("minmax", MinMaxScaler)])
def test_scaler_is_fit_on_the_training_split_only(kind, scaler):
    cfg = data_cfg(source="breast_cancer", preprocess={"scaler": kind})
    ds = data.load(cfg, io(30, "binary_crossentropy", 1), 0)
    raw = load_breast_cancer().data
    by_hand = scaler().fit(raw[ds.index["train"]])
    for name in ("train", "val", "test"):
        np.testing.assert_allclose(getattr(ds, name).x, by_hand.transform(raw[ds.index[name]]), rtol=1e-4, atol=1e-5)
    # Fit on all the data, the statistics would differ: the test above can fail.
    assert not np.allclose(scaler().fit(raw).transform(raw[ds.index["test"]]), ds.test.x, atol=1e-3)


def test_target_scaler_round_trips_to_original_units():
    cfg = data_cfg(source="diabetes", preprocess={"scaler": "standard", "target_scaler": "standard"})
    ds = data.load(cfg, io(10, "mean_absolute_error", 1), 0)
    y = load_diabetes().target
    assert abs(ds.train.y.mean()) < 1e-5 and ds.train.y.std() == pytest.approx(1, abs=1e-4)
    np.testing.assert_allclose(ds.preprocessor.inverse_targets(ds.test.y, "out"), y[ds.index["test"]], rtol=1e-5)
    assert ds.preprocessor.state["y"]["out"]["offset"] == pytest.approx([y[ds.index["train"]].mean()])


def test_a_saved_state_is_reused_not_refit():
    cfg = data_cfg(source="breast_cancer", preprocess={"scaler": "standard"})
    trained = data.load(cfg, io(30, "binary_crossentropy", 1), 0)
    saved = json.loads(json.dumps(trained.preprocessor.state))  # as preprocess.json keeps it
    reloaded = data.load(cfg, io(30, "binary_crossentropy", 1), 0, state=saved)
    np.testing.assert_array_equal(reloaded.test.x, trained.test.x)
    # A state from elsewhere is applied as it is: nothing is learnt from the data at hand.
    identity = {"x": {"input": {"kind": "standard", "offset": [0.0] * 30, "scale": [1.0] * 30}}, "y": {}, "classes": {}}
    untouched = data.load(cfg, io(30, "binary_crossentropy", 1), 0, state=identity)
    np.testing.assert_allclose(untouched.test.x, load_breast_cancer().data[trained.index["test"]], rtol=1e-6)


@pytest.mark.parametrize(
    "loss, labels, shape",
    [
        ("categorical_crossentropy", "auto", (3,)),
        ("sparse_categorical_crossentropy", "auto", ()),
        ("categorical_crossentropy", "one_hot", (3,)),
        ("sparse_categorical_crossentropy", "sparse", ()),
    ],
)
def test_labels_follow_the_loss(loss, labels, shape):
    ds = data.load(data_cfg(source="iris", preprocess={"labels": labels}), io(4, loss, 3), 0)
    assert ds.train.y.shape == (len(ds.train), *shape)


def test_one_hot_targets_are_turned_into_ids_for_a_sparse_loss(tmp_path):
    y = np.eye(3)[np.arange(30) % 3]
    np.savez(tmp_path / "oh.npz", x=np.zeros((30, 4)), y=y)
    ds = data.load(data_cfg(source="npz", path=str(tmp_path / "oh.npz")), io(), 0)
    assert ds.train.y.ndim == 1 and set(ds.train.y) == {0, 1, 2}


def test_positive_label_against_the_rest(tmp_path):
    np.savez(tmp_path / "five.npz", x=np.zeros((50, 4)), y=np.arange(50) % 5 + 1)
    ds = data.load(
        data_cfg(
            source="npz", path=str(tmp_path / "five.npz"), val_split=0.0, test_split=0.0, preprocess={"positive": 1}
        ),
        io(4, "binary_crossentropy", 1),
        0,
    )
    assert ds.train.y.tolist() == [1.0, 0.0, 0.0, 0.0, 0.0] * 10
    # Predictions come back as the data spelt the positive label, and its complement.
    assert ds.preprocessor.decode(np.array([[0.9], [0.2]]), "out").tolist() == [1, "not 1"]
    assert ds.preprocessor.class_names("out", 2) == ["not 1", "1"]
    # With two labels, the other one keeps its own name.
    np.savez(tmp_path / "two.npz", x=np.zeros((50, 4)), y=np.where(np.arange(50) % 2, "yes", "no"))
    ds = data.load(
        data_cfg(
            source="npz", path=str(tmp_path / "two.npz"), val_split=0.0, test_split=0.0, preprocess={"positive": "yes"}
        ),
        io(4, "binary_crossentropy", 1),
        0,
    )
    assert ds.preprocessor.decode(np.array([[0.9], [0.2]]), "out").tolist() == ["yes", "no"]
    assert ds.preprocessor.class_names("out", 3) == ["no", "yes", "2"]  # a unit no label trained keeps its id
    with pytest.raises(ConfigError, match="quote the label"):  # YAML's `positive: no` is False
        data.load(
            data_cfg(
                source="npz",
                path=str(tmp_path / "two.npz"),
                val_split=0.0,
                test_split=0.0,
                preprocess={"positive": False},
            ),
            io(4, "binary_crossentropy", 1),
            0,
        )


def test_unseen_class_in_val_is_an_error(tmp_path):
    import pandas as pd

    pd.DataFrame({"a": [1.0, 2, 3, 4], "y": ["a", "b", "a", "b"]}).to_csv(tmp_path / "t.csv", index=False)
    pd.DataFrame({"a": [1.0], "y": ["c"]}).to_csv(tmp_path / "v.csv", index=False)
    cfg = data_cfg(source="csv", train_path=str(tmp_path / "t.csv"), val_path=str(tmp_path / "v.csv"), test_split=0.0)
    with pytest.raises(ConfigError, match=r"data.val_path: v.csv has label\(s\) c that the training data never has"):
        data.read(cfg, graph(1, units=2), 0)


def test_more_units_than_named_labels_is_an_error(tmp_path):
    """Five units for three words: a prediction of class 4 would have no word to print."""
    import pandas as pd

    pd.DataFrame({"a": np.arange(6.0), "y": ["pear", "fig", "kiwi"] * 2}).to_csv(tmp_path / "t.csv", index=False)
    cfg = data_cfg(source="csv", path=str(tmp_path / "t.csv"), val_split=0.0, test_split=0.0)
    with pytest.raises(ConfigError, match=r"the data has 3 labels \(fig, kiwi, pear\), but the output has 5 units"):
        data.load(cfg, io(1, units=5), 0)
    assert len(data.load(cfg, io(1, units=3), 0).train) == 6


def test_one_hot_columns_name_the_classes(tmp_path):
    """Targets written one-hot in columns low, mid, high decode to those names, not 0, 1, 2."""
    import pandas as pd

    rows = np.eye(3, dtype=int)[[0, 1, 2, 1, 0, 2]]
    table = pd.DataFrame({"a": np.arange(6.0), "low": rows[:, 0], "mid": rows[:, 1], "high": rows[:, 2]})
    table.to_csv(tmp_path / "t.csv", index=False)
    cfg = data_cfg(source="csv", path=str(tmp_path / "t.csv"), features=["a"], target=["low", "mid", "high"])
    cfg.val_split = cfg.test_split = 0.0
    loaded = data.load(cfg, io(1, "categorical_crossentropy", 3), 0)
    decoded = loaded.preprocessor.decode(np.array([[0.1, 0.2, 0.7], [0.8, 0.1, 0.1]]), "out")
    assert decoded.tolist() == ["high", "low"]


@pytest.mark.parametrize("padding", ["pre", "post"])
@pytest.mark.parametrize("truncating", ["pre", "post"])
def test_sequence_padding_matches_keras(padding, truncating):
    import keras

    from dlcli.data.preprocess import _pad

    sequences = np.empty(4, dtype=object)
    sequences[:] = [[1, 2, 3, 4, 5, 6], [7], [], [8, 9, 10]]
    expected = keras.utils.pad_sequences(list(sequences), maxlen=4, padding=padding, truncating=truncating)
    np.testing.assert_array_equal(_pad(sequences, "x", 4, padding, truncating), expected)


def test_reshape_and_divide_by():
    ds = data.load(data_cfg(source="digits", preprocess={"reshape": [8, 8], "divide_by": 16}), _image_io(), 0)
    assert ds.train.x.shape[1:] == (8, 8) and ds.train.x.max() == 1.0


def _image_io():
    from dlcli.data.io import InputSpec, ModelIO, OutputSpec

    return ModelIO(
        [InputSpec("input", (8, 8), "float32")], [OutputSpec("out", (10,), "sparse_categorical_crossentropy")]
    )
