"""Data that used to train silently on the wrong thing is read right or refused before training:
streamed CSV files in another column order, a headerless CSV read with a header, pandas' index
column, a multi-label target that is not 0/1, a run's data file changed since it trained."""

import numpy as np
import pandas as pd
import pytest

from dlcli import data
from dlcli.errors import ConfigError
from tests.data.helpers import data_cfg, graph

NO_SPLITS = {"val_split": 0.0, "test_split": 0.0}


def refused(cfg, model) -> str:
    """The one problem `data.read` refuses `cfg` with, as key, message and hint on one line."""
    with pytest.raises(ConfigError) as caught:
        data.read(cfg, model, 0)
    (problem,) = caught.value.problems
    return f"{problem.key}: {problem.message} | {problem.hint}"


def animals(n: int, seed: int) -> pd.DataFrame:
    """Three features far apart (a near 0, b near 100, c near -50), so a column read as another shows."""
    rng = np.random.default_rng(seed)
    a = rng.normal(0, 1, n)
    return pd.DataFrame(
        {"a": a, "b": rng.normal(100, 1, n), "c": rng.normal(-50, 1, n), "animal": np.where(a > 0, "cat", "dog")}
    )


def test_streamed_csv_files_are_read_by_column_name(tmp_path):
    animals(40, 0).to_csv(tmp_path / "s0.csv", index=False)
    animals(40, 1)[["c", "b", "a", "animal"]].to_csv(tmp_path / "s1.csv", index=False)
    cfg = data_cfg(
        source="csv", path=str(tmp_path), stream=True, target="animal", preprocess={"scaler": "standard"}, **NO_SPLITS
    )
    read = data.read(cfg, graph(3, units=2), 0)
    # The scaler was fit on both files, each column by its name: means near 0, 100 and -50.
    np.testing.assert_allclose(read.preprocessor.state["x"]["input"]["offset"], [0, 100, -50], atol=0.6)
    assert read.preprocessor.state["columns"]["x"] == {"input": ["a", "b", "c"]}

    animals(40, 1)[["a", "b", "animal"]].to_csv(tmp_path / "s1.csv", index=False)
    said = refused(cfg, graph(3, units=2))
    assert said.startswith("data.path: s1.csv has no column 'c'"), said


def test_a_headerless_csv_read_with_a_header_is_refused(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 3))
    np.savetxt(tmp_path / "plain.csv", np.column_stack([x, x[:, 0] > 0]), delimiter=",")
    cfg = data_cfg(source="csv", path=str(tmp_path / "plain.csv"), **NO_SPLITS)
    said = refused(cfg, graph(3, "binary_crossentropy", 1))
    assert said.startswith("data.path: plain.csv has no header line: its first row is numbers"), said
    assert "data.header=false" in said
    cfg.header = False
    assert len(data.read(cfg, graph(3, "binary_crossentropy", 1), 0).splits["train"]) == 30  # no row lost

    # Headers of numbers that are headers: pandas' 0, 1, 2, ... and one the config names a column of.
    frame = pd.DataFrame(np.column_stack([x, x[:, 0] > 0]))
    frame.to_csv(tmp_path / "pandas.csv", index=False)
    frame.set_axis(["1", "2", "3", "label"], axis=1).to_csv(tmp_path / "named.csv", index=False)
    for name, target in (("pandas.csv", None), ("named.csv", "label")):
        cfg = data_cfg(source="csv", path=str(tmp_path / name), target=target, **NO_SPLITS)
        assert len(data.read(cfg, graph(3, "binary_crossentropy", 1), 0).splits["train"]) == 30


def test_pandas_index_column_is_no_feature_unless_named(tmp_path):
    frame = animals(30, 0)[["a", "b", "animal"]]
    frame.to_csv(tmp_path / "indexed.csv")  # pandas writes its row index first, under an empty header cell
    cfg = data_cfg(source="csv", path=str(tmp_path / "indexed.csv"), target="animal", **NO_SPLITS)
    said = refused(cfg, graph(3, units=2))
    assert said.startswith("data.features: indexed.csv: column 0 has an empty name"), said
    assert "'Unnamed: 0'" in said and "data.features=[a,b]" in said and "index=False" in said
    cfg.features = ["Unnamed: 0", "a", "b"]  # named: the user wants it
    np.testing.assert_array_equal(data.read(cfg, graph(3, units=2), 0).splits["train"].x["input"][:, 0], range(30))


def test_a_multi_label_target_other_than_0_or_1_is_refused(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(20, 3)), columns=["a", "b", "c"])
    frame[["l1", "l2"]] = (rng.random((20, 2)) > 0.5).astype(float)
    frame.loc[6, "l2"] = 0.5
    frame.to_csv(tmp_path / "tags.csv", index=False)
    cfg = data_cfg(
        source="csv", path=str(tmp_path / "tags.csv"), target=["l1", "l2"], preprocess={"labels": "multihot"}
    )
    said = refused(cfg, graph(3, "binary_crossentropy", 2))
    assert said.startswith("data.target: output 'out' is multi-label (each target 0 or 1), but column 'l2' has 0.5")
    assert "in data row 7" in said and "labels=soft" in said


def test_splits_are_not_cut_again_from_a_changed_file(tmp_path):
    file = tmp_path / "rows.csv"
    animals(60, 0).to_csv(file, index=False)
    cfg = data_cfg(source="csv", path=str(file), target="animal")
    model = graph(3, units=2)
    state = data.read(cfg, model, 0).preprocessor.state
    assert state["data_file"]["size"] == file.stat().st_size
    data.read(cfg, model, 0, state=state)  # unchanged: read as at training

    pd.concat([animals(60, 0), animals(10, 1)]).to_csv(file, index=False)  # rows appended: other splits
    with pytest.raises(ConfigError) as caught:
        data.read(cfg, model, 0, state=state)
    (problem,) = caught.value.problems
    assert problem.key == "data.path" and f"{file} changed since the run trained" in problem.message
    assert "the splits cut from it now would differ" in problem.message
    old_run = {k: v for k, v in state.items() if k != "data_file"}  # a run from before fingerprints: read as it was
    assert len(data.read(cfg, model, 0, state=old_run).splits["train"]) > len(data.read(cfg, model, 0).splits["test"])
