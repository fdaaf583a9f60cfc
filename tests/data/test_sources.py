"""Each source on small real data: scikit-learn's bundled sets, CSV and NPZ files written here,
Keras' own loaders reading local copies, and synthetic data."""

import gzip

import numpy as np
import pandas as pd
import pytest

from dlcli import data
from dlcli.data import sources
from dlcli.errors import ConfigError
from tests.data.helpers import data_cfg, graph, io, two_by_two

NO_SPLITS = {"val_split": 0.0, "test_split": 0.0}


@pytest.mark.parametrize(
    "name, features, loss, units, samples",
    [
        ("digits", 64, "sparse_categorical_crossentropy", 10, 1797),
        ("breast_cancer", 30, "binary_crossentropy", 1, 569),
        ("iris", 4, "categorical_crossentropy", 3, 150),
        ("wine", 13, "sparse_categorical_crossentropy", 3, 178),
        ("diabetes", 10, "mse", 1, 442),
    ],
)
def test_bundled_sklearn_sets(name, features, loss, units, samples):
    cfg = data_cfg(source=name, **NO_SPLITS)
    ds = data.load(cfg, io(features, loss, units), seed=0, done=data.read(cfg, graph(features, loss, units), 0))
    assert ds.train.x.shape == (samples, features) and ds.train.x.dtype == np.float32
    assert len(ds.train) == samples and ds.val is None and ds.test is None
    if loss == "categorical_crossentropy":
        assert ds.train.y.shape == (samples, units) and set(ds.train.y.sum(axis=1)) == {1.0}
    elif loss == "mse":
        assert ds.train.y.dtype == np.float32 and ds.train.y.std() > 10  # diabetes targets, unscaled


@pytest.fixture
def table(tmp_path):
    """A CSV with a header: an id, three numeric features, a string label and a numeric target."""
    frame = pd.DataFrame(
        {
            "id": [f"s{i}" for i in range(30)],
            "alpha": np.arange(30, dtype=float),
            "beta": np.arange(30, dtype=float) * 2,
            "gamma": np.arange(30, dtype=float) * -1,
            "label": ["cat", "dog", "eel"] * 10,
            "size": np.linspace(0, 1, 30),
        }
    )
    path = tmp_path / "table.csv"
    frame.to_csv(path, index=False)
    return path, frame


@pytest.mark.parametrize("features", [["alpha", "beta", "gamma"], "1:4", [1, 2, 3], ["alpha", 2, -3]])
def test_csv_columns_by_name_index_list_or_slice(table, features):
    path, frame = table
    cfg = data_cfg(source="csv", path=str(path), features=features, target="label", **NO_SPLITS)
    done = data.read(cfg, graph(3), 0)
    np.testing.assert_array_equal(
        done.splits["train"].x["input"], frame[["alpha", "beta", "gamma"]].to_numpy(dtype="float32")
    )
    # String labels become class ids in sorted order; the names are saved with the run's state.
    assert done.preprocessor.state["classes"] == {"out": ["cat", "dog", "eel"]}
    assert done.splits["train"].y["out"].tolist() == [0, 1, 2] * 10


def test_csv_without_header_and_other_delimiter(tmp_path):
    path = tmp_path / "plain.csv"
    path.write_text("".join(f"{i};{i * 2};{i % 2}\n" for i in range(20)))
    cfg = data_cfg(source="csv", path=str(path), header=False, delimiter=";", features="0:2", target=2, **NO_SPLITS)
    ds = data.load(cfg, io(2, "binary_crossentropy", 1), 0)
    assert ds.train.x[3].tolist() == [3.0, 6.0] and ds.train.y[:4].tolist() == [0, 1, 0, 1]


def test_csv_defaults_to_last_column_as_target(tmp_path):
    path = tmp_path / "d.csv"
    pd.DataFrame({"a": [1.0, 2, 3, 4], "b": [5.0, 6, 7, 8], "t": [0.5, 0.1, 0.2, 0.3]}).to_csv(path, index=False)
    ds = data.load(data_cfg(source="csv", path=str(path), **NO_SPLITS), io(2, "mse", 1), 0)
    assert ds.train.x.shape == (4, 2) and ds.train.y.tolist() == pytest.approx([0.5, 0.1, 0.2, 0.3])


def test_csv_feeds_every_input_and_output_of_a_multi_io_model(table):
    path, frame = table
    model, built = two_by_two()
    cfg = data_cfg(
        source="csv",
        path=str(path),
        features={"a": "1:4", "b": ["alpha", "beta"]},
        target={"kind": "label", "size": "size"},
        **NO_SPLITS,
    )
    ds = data.load(cfg, built, 0, done=data.read(cfg, model, 0))
    assert set(ds.train.x) == {"a", "b"} and ds.train.x["a"].shape == (30, 3) and ds.train.x["b"].shape == (30, 2)
    assert ds.train.y["kind"].tolist() == [0, 1, 2] * 10
    np.testing.assert_allclose(ds.train.y["size"], frame["size"], rtol=1e-6)


def test_npz_default_and_configured_array_names(tmp_path):
    x, y = np.random.default_rng(0).normal(size=(12, 4)).astype("float32"), np.arange(12) % 3
    np.savez(tmp_path / "default.npz", x=x, y=y)
    np.savez(tmp_path / "named.npz", pixels=x, digit=y)
    for name, extra in (("default.npz", {}), ("named.npz", {"features": "pixels", "target": "digit"})):
        ds = data.load(data_cfg(source="npz", path=str(tmp_path / name), **extra, **NO_SPLITS), io(), 0)
        np.testing.assert_array_equal(ds.train.x, x)
        assert ds.train.y.tolist() == y.tolist()


def test_npz_in_keras_layout_brings_its_own_test_split(tmp_path):
    rng = np.random.default_rng(1)
    np.savez(
        tmp_path / "k.npz",
        x_train=rng.normal(size=(40, 4)),
        y_train=np.arange(40) % 3,
        x_test=rng.normal(size=(9, 4)),
        y_test=np.arange(9) % 3,
    )
    ds = data.load(data_cfg(source="npz", path=str(tmp_path / "k.npz"), val_split=0.25), io(), 0)
    assert (len(ds.train), len(ds.val), len(ds.test)) == (30, 10, 9)


def test_npz_arrays_named_after_model_inputs_and_outputs(tmp_path):
    model, built = two_by_two()
    rng = np.random.default_rng(2)
    np.savez(
        tmp_path / "multi.npz",
        a=rng.normal(size=(20, 3)),
        b=rng.normal(size=(20, 2)),
        kind=np.arange(20) % 3,
        size=rng.normal(size=20),
    )
    cfg = data_cfg(source="npz", path=str(tmp_path / "multi.npz"), **NO_SPLITS)
    ds = data.load(cfg, built, 0, done=data.read(cfg, model, 0))
    assert ds.train.x["b"].shape == (20, 2) and ds.train.y["kind"].max() == 2


def test_given_split_files(tmp_path):
    for split, n in (("train", 30), ("val", 7), ("test", 5)):
        pd.DataFrame({"a": np.arange(n, dtype=float), "b": np.ones(n), "y": np.arange(n) % 3}).to_csv(
            tmp_path / f"{split}.csv", index=False
        )
    cfg = data_cfg(
        source="csv",
        train_path=str(tmp_path / "train.csv"),
        val_path=str(tmp_path / "val.csv"),
        test_path=str(tmp_path / "test.csv"),
    )
    ds = data.load(cfg, io(2), 0)
    # Given files are used whole: the fractions only apply to a single file.
    assert (len(ds.train), len(ds.val), len(ds.test)) == (30, 7, 5)
    assert ds.test.x[:, 0].tolist() == [0, 1, 2, 3, 4]

    # Read by the training file's column names, in any order, extra columns left out.
    test = pd.read_csv(tmp_path / "test.csv")
    test[["y", "b", "a"]].assign(id=range(5)).to_csv(tmp_path / "test.csv", index=False)
    reordered = data.load(cfg, io(2), 0)
    np.testing.assert_array_equal(reordered.test.x, ds.test.x)
    np.testing.assert_array_equal(reordered.test.y, ds.test.y)
    (tmp_path / "trailing.csv").write_text("".join(line + ",\n" for line in test.to_csv(index=False).splitlines()))
    trailing = data.load(data_cfg(source="csv", path=str(tmp_path / "trailing.csv"), **NO_SPLITS), io(2), 0)
    np.testing.assert_array_equal(trailing.train.x, ds.test.x)  # the empty column a trailing comma makes is dropped
    test.to_csv(tmp_path / "tabbed.csv", sep="\t", index=False)  # data.delimiter=tab: shells mangle a typed tab
    assert (
        len(
            data.load(
                data_cfg(source="csv", path=str(tmp_path / "tabbed.csv"), delimiter="tab", **NO_SPLITS), io(2), 0
            ).train
        )
        == 5
    )
    test[["a", "y"]].to_csv(tmp_path / "test.csv", index=False)
    with pytest.raises(ConfigError, match=r"data.test_path: test.csv has no column 'b' \(training read a, b\)"):
        data.load(cfg, io(2), 0)


def test_synthetic_matches_every_output_loss():
    from dlcli.data.io import InputSpec, ModelIO, OutputSpec

    spec = ModelIO(
        [InputSpec("words", (None,), "int32", vocab=50), InputSpec("image", (8, 8, 1), "float32")],
        [
            OutputSpec("cls", (5,), "categorical_crossentropy"),
            OutputSpec("ids", (5,), "sparse_categorical_crossentropy"),
            OutputSpec("yes", (1,), "binary_crossentropy"),
            OutputSpec("v", (2,), "mse"),
        ],
    )
    raw = sources.synthetic(data_cfg(samples=10, sequence_length=7), spec, 0)
    assert raw.x["words"].shape == (10, 7) and 1 <= raw.x["words"].min() and raw.x["words"].max() < 50
    assert raw.y["cls"].shape == (10, 5) and set(raw.y["cls"].sum(axis=1)) == {1.0}
    assert raw.y["ids"].shape == (10,) and raw.y["ids"].max() < 5
    assert set(np.unique(raw.y["yes"])) <= {0.0, 1.0} and raw.y["v"].shape == (10, 2)


# --- Keras' own loaders, reading a local copy (data.path) ------------------------------


def test_keras_mnist_loader_reads_a_local_copy(tmp_path):
    with np.load(sources._ASSETS / "mnist_5k.npz") as f:
        x, y = f["x"], f["y"]
    np.savez(tmp_path / "mnist.npz", x_train=x[:4000], y_train=y[:4000], x_test=x[4000:], y_test=y[4000:])
    cfg = data_cfg(
        source="mnist", path=str(tmp_path / "mnist.npz"), val_split=0.1, preprocess={"reshape": [784], "divide_by": 255}
    )
    ds = data.load(cfg, io(784, "categorical_crossentropy", 10), 0)
    assert ds.test.x.shape == (1000, 784) and ds.train.x.max() <= 1.0
    assert (len(ds.train), len(ds.val)) == (3600, 400) and ds.note is None


def test_keras_imdb_loader_with_options_and_padding(tmp_path):
    reviews = np.empty(6, dtype=object)
    reviews[:] = [[1, 5, 9], [40, 2], [7] * 12, [3, 3, 3, 3], [8], [60, 61, 62]]
    np.savez(
        tmp_path / "imdb.npz",
        x_train=reviews[:4],
        y_train=np.array([0, 1, 0, 1]),
        x_test=reviews[4:],
        y_test=np.array([1, 0]),
    )
    cfg = data_cfg(
        source="imdb",
        path=str(tmp_path / "imdb.npz"),
        options={"num_words": 20},
        val_split=0.0,
        preprocess={"maxlen": 5},
    )
    ds = data.load(cfg, io(5, "binary_crossentropy", 1), 0)
    assert ds.train.x.shape == (4, 5) and ds.test.x.shape == (2, 5)
    # Keras' own loader ran: start token 1, word ids shifted by 3, ids >= num_words become 2 (out of vocabulary).
    assert set(ds.train.x[:, -1]) <= set(range(20)) and (ds.train.x == 1).any() and ds.train.x.max() < 20


def test_keras_fashion_mnist_reads_a_directory_of_its_files(tmp_path):
    rng = np.random.default_rng(0)

    def idx(name: str, array: np.ndarray, header: int) -> None:
        with gzip.open(tmp_path / name, "wb") as f:
            f.write(b"\0" * header + array.astype(np.uint8).tobytes())

    idx("train-labels-idx1-ubyte.gz", rng.integers(0, 10, 30), 8)
    idx("train-images-idx3-ubyte.gz", rng.integers(0, 255, (30, 28, 28)), 16)
    idx("t10k-labels-idx1-ubyte.gz", rng.integers(0, 10, 6), 8)
    idx("t10k-images-idx3-ubyte.gz", rng.integers(0, 255, (6, 28, 28)), 16)
    cfg = data_cfg(
        source="fashion_mnist", path=str(tmp_path), val_split=0.0, stratify=False, preprocess={"reshape": [784]}
    )
    ds = data.load(cfg, io(784, "sparse_categorical_crossentropy", 10), 0)
    assert ds.train.x.shape == (30, 784) and ds.test.x.shape == (6, 784)


def test_keras_set_saved_as_npz(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(
        tmp_path / "c10.npz",
        x_train=rng.integers(0, 255, (20, 32, 32, 3)),
        y_train=rng.integers(0, 10, (20, 1)),
        x_test=rng.integers(0, 255, (4, 32, 32, 3)),
        y_test=rng.integers(0, 10, (4, 1)),
    )
    from dlcli.data.io import InputSpec, ModelIO, OutputSpec

    spec = ModelIO([InputSpec("image", (32, 32, 3), "float32")], [OutputSpec("out", (10,), "categorical_crossentropy")])
    ds = data.load(data_cfg(source="cifar10", path=str(tmp_path / "c10.npz"), val_split=0.0), spec, 0)
    assert ds.train.x.shape == (20, 32, 32, 3) and ds.train.y.shape == (20, 10)


def test_keras_loader_options_are_checked_against_its_signature(tmp_path):
    np.savez(tmp_path / "imdb.npz", x=np.zeros(1))
    with pytest.raises(ConfigError) as caught:
        data.load(
            data_cfg(source="imdb", path=str(tmp_path / "imdb.npz"), options={"num_word": 10}),
            io(5, "binary_crossentropy", 1),
            0,
        )
    assert "data.options.num_word: keras.datasets.imdb.load_data takes no argument 'num_word'" in str(caught.value)
    assert "did you mean 'num_words'" in str(caught.value)


def test_csv_files_stream_through_a_glob_with_the_scaler_fit_on_training_rows(tmp_path):
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(3)
    for i in range(3):
        frame = pd.DataFrame(rng.normal(loc=i, size=(25, 3)), columns=["a", "b", "c"])
        frame.insert(0, "id", np.arange(i * 25, (i + 1) * 25))
        frame["y"] = rng.normal(size=25)
        frame.to_csv(tmp_path / f"chunk{i}.csv", index=False)
    cfg = data_cfg(
        source="csv",
        path=str(tmp_path / "chunk*.csv"),
        stream=True,
        features=["a", "b", "c"],
        target="y",
        test_split=0.2,
        preprocess={"scaler": "standard"},
    )
    ds = data.load(cfg, io(3, "mse", 1), 0, done=data.read(cfg, graph(3, "mse", 1), 0))
    assert (len(ds.train), len(ds.val), len(ds.test)) == (54, 6, 15) and ds.train.x is None
    raw_train = np.concatenate([p.x["input"] for p in ds.train.rows.parts()])
    by_hand = StandardScaler().fit(raw_train)
    assert ds.preprocessor.state["x"]["input"]["offset"] == pytest.approx(by_hand.mean_.tolist())
    batches = [b for b in ds.test.sequence(8, shuffle=False)]  # batches never cross a file
    assert sum(len(x) for x, _ in batches) == 15 and all(
        len(x) <= 8 and x.shape[1] == 3 and x.dtype == np.float32 for x, _ in batches
    )


def test_new_samples_keep_a_target_named_by_its_column(tmp_path):
    """A file to predict that lacks a feature still has its named target read as the target, never as a feature."""
    pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0], "price": [5.0, 6.0]}).to_csv(tmp_path / "short.csv", index=False)
    part = sources.new_samples(tmp_path / "short.csv", data_cfg(source="csv", target="price"), io(3, "mse", 1))
    assert part.x["input"].shape == (2, 2) and part.y["out"].tolist() == [5.0, 6.0]
    pd.DataFrame({"a": [1.0], "b": [3.0], "c": [4.0]}).to_csv(tmp_path / "features.csv", index=False)
    part = sources.new_samples(tmp_path / "features.csv", data_cfg(source="csv"), io(3, "mse", 1))
    assert part.x["input"].shape == (1, 3) and part.y == {}  # exactly the model's features, positional target


def test_a_missing_feature_column_is_never_said_to_be_the_target(tmp_path):
    """New samples lacking a feature: the did-you-mean looks among the columns training did not read."""
    trained = {"x": ["[bold]a[/bold]", "b"]}
    with pytest.raises(ConfigError) as info:
        sources._by_trained_names(
            {"x": "0:2"},
            trained,
            ["[bold]y[/bold]", "b"],
            tmp_path / "new.csv",
            "--input",
            read_otherwise=frozenset({"[bold]y[/bold]"}),
        )
    (problem,) = info.value.problems
    assert "has no column '[bold]a[/bold]'" in problem.message and "did you mean" not in problem.hint


def test_a_name_with_a_colon_that_is_no_column_is_said_to_be_neither(tmp_path):
    with pytest.raises(ConfigError) as info:
        sources._columns(":smile: z", ["a", ":smile: y"], "data.target", tmp_path / "f.csv")
    (problem,) = info.value.problems
    assert problem.message == "no column ':smile: z', and it is not a column slice"
    assert "did you mean ':smile: y'" in problem.hint
