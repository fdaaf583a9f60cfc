"""End to end: an autoencoder of nested sub-models trained against its input, soft and multi-hot
targets, a convnet on the mnist group, every Keras data group offline, and predict's shaped outputs."""

import json

import numpy as np
import pytest

pytestmark = pytest.mark.slow

# The shipped recipe: encoder and decoder are nested sub-models; the target is the input.
AUTOENCODER = ["recipe=mnist_autoencoder", "data.limit=200", "train.epochs=2", "train.batch_size=16"]


@pytest.fixture(scope="module")
def autoencoder(tmp_path_factory):
    from typer.testing import CliRunner

    from dlcli.cli import app

    where = tmp_path_factory.mktemp("ae")
    result = CliRunner().invoke(
        app, ["-q", "train", *AUTOENCODER, "--runs-dir", str(where / "outputs")], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return where / result.stdout.strip().splitlines()[-1].removeprefix("run: ")


def test_autoencoder_learns_its_input_and_predicts_whole_images(autoencoder, cli, tmp_path):
    import pandas as pd

    losses = pd.read_csv(autoencoder / "history.csv")["loss"].tolist()
    assert losses[-1] < losses[0] * 0.9  # learning its input, not digit labels broadcast over an image
    code, out, err = cli("predict", autoencoder, "-o", tmp_path / "p.npz")
    assert code == 0, err
    assert "reconstruction: shape (1000, 28, 28, 1)  min" in out and "reconstruction: mae " in out
    with np.load(tmp_path / "p.npz") as f:
        assert f["reconstruction"].shape == f["reconstruction_true"].shape == (1000, 28, 28, 1)
        assert f["reconstruction_true"].max() <= 1.0  # the input's divide_by: 255 applied to the target too
        mse = float(np.mean((f["reconstruction"] - f["reconstruction_true"]) ** 2))
    code, out, err = cli("evaluate", autoencoder)
    assert code == 0, err
    evaluated = json.loads((autoencoder / "eval.json").read_text())
    assert evaluated["metrics"]["loss"] == pytest.approx(mse, rel=1e-3)


def test_a_csv_of_images_is_refused_with_the_npz_hint(autoencoder, cli, tmp_path):
    code, _, err = cli("predict", autoencoder, "-o", tmp_path / "p.csv")
    assert code == 2 and not (tmp_path / "p.csv").exists()
    assert "error: --output: reconstruction has 784 values a sample, shaped [28, 28, 1]" in err
    assert "hint: write an .npz (--output p.npz)" in err


def test_check_expands_sub_models_and_says_what_the_target_is(cli, in_tmp):
    code, out, err = cli("check", "recipe=mnist_autoencoder", "--expand")
    assert code == 0, err
    flat = " ".join(out.split())
    assert "encoder/encoded Dense (32,) 4,128" in flat and "decoder/decoded Reshape (28, 28, 1) 0" in flat
    assert "output reconstruction: loss mse, weight 1, metrics none" in flat
    assert "data: the target of 'reconstruction' is input 'img', preprocessed as it is" in flat
    assert max(len(line) for line in out.splitlines()) <= 80


SOFT = """\
description: two inputs; a main output on soft (probability) targets and a multi-label one on multi-hot rows
model:
  inputs: {title: {shape: [4]}, meta: {shape: [3]}}
  nodes:
    both: {class: Concatenate, inputs: [title, meta]}
    hidden: {class: Dense, units: 8, activation: relu}
    main: {class: Dense, units: 1, activation: sigmoid}
    tags: {class: Dense, units: 3, activation: sigmoid, inputs: title}
  outputs: [main, tags]
  loss: binary_crossentropy
  loss_weights: [1.0, 0.2]
data:
  source: npz
  path: soft.npz
  features: {title: x_title, meta: x_meta}
  target: {main: y_main, tags: y_tags}
train: {epochs: 1, batch_size: 16}
"""


def test_soft_and_multihot_targets_of_a_multi_input_multi_output_model(cli, in_tmp):
    rng = np.random.default_rng(0)
    title, meta = rng.standard_normal((120, 4)), rng.standard_normal((120, 3))
    main = 1 / (1 + np.exp(-(title[:, 0] + meta[:, 0])))
    np.savez("soft.npz", x_title=title, x_meta=meta, y_main=main, y_tags=(title[:, :3] > 0).astype("int64"))
    (in_tmp / "soft.yaml").write_text(SOFT)
    code, out, err = cli("-q", "train", "recipe=soft.yaml")
    assert code == 0, err  # (it was refused: "BinaryCrossentropy takes class labels ... use a regression loss")
    run = in_tmp / out.strip().splitlines()[-1].removeprefix("run: ")
    assert json.loads((run / "preprocess.json").read_text())["state"]["kinds"] == {"main": "soft", "tags": "multihot"}
    code, out, err = cli("predict", run, "-o", "p.npz")
    assert code == 0, err
    with np.load("p.npz") as f:
        assert sorted(f.files) == ["main", "main_true", "source_row", "tags", "tags_true"]  # never named as classes
        assert 0 < f["main"].min() and f["main"].max() < 1 and len(np.unique(f["main"])) > 2
        assert f["tags"].shape == f["tags_true"].shape == (24, 3) and set(np.unique(f["tags"])) <= {0, 1}
    assert "tags: shape (24, 3)" in out and "main: mae" in out and "tags: accuracy" in out


def test_a_convnet_input_gets_the_mnist_groups_images_as_they_are():
    from omegaconf import OmegaConf

    from dlcli import data
    from dlcli.data.io import InputSpec, ModelIO, OutputSpec
    from tests.data.helpers import data_cfg

    cfg = data_cfg(**OmegaConf.to_container(OmegaConf.load("conf/data/mnist.yaml")), limit=50)
    for shape in ((28, 28, 1), (784,)):  # as written: a convnet's, and the MLP recipes'
        io = ModelIO([InputSpec("image", shape, "float32")], [OutputSpec("digit", (10,), "categorical_crossentropy")])
        ds = data.load(cfg, io, 0)
        assert ds.train.x.shape == (50, *shape) and ds.train.x.max() <= 1.0 and ds.train.y.shape == (50, 10)


@pytest.mark.parametrize(
    "group, file, origin",
    [
        ("cifar10", "cifar-10-python.tar.gz", "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"),
        ("cifar100", "cifar-100-python.tar.gz", "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"),
        ("fashion_mnist", "fashion", "train-images-idx3-ubyte.gz"),
        ("imdb", "imdb.npz", "tf-keras-datasets/imdb.npz"),
        ("reuters", "reuters.npz", "tf-keras-datasets/reuters.npz"),
        ("boston_housing", "boston_housing.npz", "tf-keras-datasets/boston_housing.npz"),
    ],
)
def test_every_keras_data_group_says_where_its_file_comes_from(group, file, origin):
    from omegaconf import OmegaConf

    from dlcli import data
    from dlcli.errors import ConfigError
    from tests.data.helpers import data_cfg, graph

    cfg = data_cfg(**OmegaConf.to_container(OmegaConf.load(f"conf/data/{group}.yaml")), path=f"missing/{file}")
    with pytest.raises(ConfigError) as caught:  # found before Keras is imported, as any missing file is
        data.read(cfg, graph(), 0)
    text = caught.value.problems[0].render()
    assert f"error: data.path: no such file 'missing/{file}'" in text and origin in " ".join(text.split())


@pytest.mark.parametrize("group, features, classes", [("iris", 4, 3), ("wine", 13, 3)])
def test_scikit_learn_groups_load(group, features, classes):
    from omegaconf import OmegaConf

    from dlcli import data
    from tests.data.helpers import data_cfg, io

    cfg = data_cfg(**OmegaConf.to_container(OmegaConf.load(f"conf/data/{group}.yaml")))
    ds = data.load(cfg, io(features, "sparse_categorical_crossentropy", classes), 0)
    assert ds.train.x.shape[1] == features and abs(float(ds.train.x.mean())) < 1e-3  # scaled on the training split
