"""Splits: no sample is ever in two of them; class proportions hold; limit and K-fold behave."""

import numpy as np
import pandas as pd
import pytest

from dlcli import data
from dlcli.data.splits import Fold
from tests.data.helpers import data_cfg, io


@pytest.fixture
def unique_rows(tmp_path):
    """200 samples whose first feature is a unique id, 3 imbalanced classes (60%, 30%, 10%)."""
    rng = np.random.default_rng(0)
    ids = np.arange(200, dtype="float32")
    x = np.column_stack([ids, rng.normal(size=(200, 3))]).astype("float32")
    y = np.repeat([0, 1, 2], [120, 60, 20])[rng.permutation(200)]
    path = tmp_path / "rows.npz"
    np.savez(path, x=x, y=y)
    return path


def ids_of(split) -> set:
    return set(split.x[:, 0].astype(int).tolist())


@pytest.mark.parametrize("seed", [0, 1, 7])
@pytest.mark.parametrize("stratify", [True, False])
def test_no_sample_is_in_two_splits(unique_rows, seed, stratify):
    path = unique_rows
    ds = data.load(
        data_cfg(source="npz", path=str(path), val_split=0.15, test_split=0.2, stratify=stratify), io(), seed
    )
    train, val, test = ids_of(ds.train), ids_of(ds.val), ids_of(ds.test)
    assert not train & val and not train & test and not val & test
    assert train | val | test == set(range(200))
    assert (len(test), len(val)) == (40, 24)


def test_the_same_seed_gives_the_same_splits_and_another_seed_others(unique_rows):
    path = unique_rows
    cfg = data_cfg(source="npz", path=str(path))
    first, again, other = (data.load(cfg, io(), seed) for seed in (3, 3, 4))
    assert ids_of(first.test) == ids_of(again.test) and ids_of(first.test) != ids_of(other.test)


def test_stratified_splits_keep_class_proportions(unique_rows):
    path = unique_rows
    ds = data.load(data_cfg(source="npz", path=str(path), val_split=0.2, test_split=0.2), io(), 0)
    for split in (ds.train, ds.val, ds.test):
        counts = np.bincount(split.y, minlength=3)
        # Within one sample of the whole set's 60/30/10.
        assert np.all(np.abs(counts - len(split) * np.array([0.6, 0.3, 0.1])) <= 1), counts


def test_regression_targets_are_not_stratified(tmp_path):
    x, y = (
        np.random.default_rng(0).normal(size=(50, 4)),
        np.arange(50).astype(float),
    )  # whole numbers, but a regression target
    np.savez(tmp_path / "r.npz", x=x, y=y)
    ds = data.load(data_cfg(source="npz", path=str(tmp_path / "r.npz")), io(4, "mse", 1), 0)
    assert len(ds.test) == 10 and ds.test.y.dtype == np.float32


def test_limit_takes_the_first_n_training_samples(unique_rows):
    path = unique_rows
    full = data.load(data_cfg(source="npz", path=str(path)), io(), 0)
    limited = data.load(data_cfg(source="npz", path=str(path), limit=25), io(), 0)
    assert len(limited.train) == 25 and limited.train.x[:, 0].tolist() == full.train.x[:25, 0].tolist()
    assert ids_of(limited.test) == ids_of(full.test) and ids_of(limited.val) == ids_of(full.val)


def test_kfold_validation_folds_partition_the_data_and_keep_the_test_split(unique_rows):
    path = unique_rows
    cfg = data_cfg(source="npz", path=str(path), test_split=0.2)
    folds = [data.load(cfg, io(), 0, fold=Fold(i, 4)) for i in range(1, 5)]
    test = ids_of(folds[0].test)
    vals = [ids_of(f.val) for f in folds]
    for f, val in zip(folds, vals):
        assert ids_of(f.test) == test  # the same held-out test split for every fold
        assert not ids_of(f.train) & val and not ids_of(f.train) & test and not val & test
        assert ids_of(f.train) | val == set(range(200)) - test
        assert np.all(np.abs(np.bincount(f.val.y, minlength=3) - len(f.val) * np.array([0.6, 0.3, 0.1])) <= 1)
    assert sum(len(v) for v in vals) == 160 and set().union(*vals) == set(range(200)) - test


def test_kfold_folds_given_train_and_val_files_together(tmp_path):
    for split, start, n in (("train", 0, 30), ("val", 30, 10)):
        pd.DataFrame({"id": np.arange(start, start + n, dtype=float), "b": np.ones(n), "y": np.arange(n) % 2}).to_csv(
            tmp_path / f"{split}.csv", index=False
        )
    cfg = data_cfg(
        source="csv", train_path=str(tmp_path / "train.csv"), val_path=str(tmp_path / "val.csv"), test_split=0.0
    )
    vals = [ids_of(data.load(cfg, io(2, "binary_crossentropy", 1), 0, fold=Fold(i, 4)).val) for i in (1, 2, 3, 4)]
    assert set().union(*vals) == set(range(40)) and sum(map(len, vals)) == 40


def test_val_split_is_a_fraction_of_what_the_test_split_leaves_as_in_keras():
    from dlcli.data import splits

    out = splits.assign(100, None, data_cfg(val_split=0.5, test_split=0.6), 0)
    assert (len(out["test"]), len(out["val"]), len(out["train"])) == (60, 20, 20)
