"""Every data mistake exits 2 with one screen that names the key, and, where the check
needs no Keras, before JAX or Keras is imported. Each case runs the real CLI in a fresh
interpreter, in a directory holding small CSV fixtures, with no network."""

import os

import numpy as np
import pandas as pd
import pytest

from tests.data.helpers import FIVE
from tests.fresh import run_all

TINY = """\
description: a three-feature classifier on table.csv
model:
  inputs: {input: {shape: [3]}}
  nodes: {out: {class: Dense, units: 3, activation: softmax}}
  outputs: {out: {loss: sparse_categorical_crossentropy, metrics: [accuracy]}}
data:
  source: csv
  path: table.csv
  features: [alpha, beta, gamma]
  target: label
train: {epochs: 1}
"""


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    where = tmp_path_factory.mktemp("data-errors")
    rng = np.random.default_rng(0)
    table = pd.DataFrame(
        {
            "id": [f"r{i}" for i in range(30)],
            "alpha": rng.normal(size=30),
            "beta": rng.normal(size=30),
            "gamma": rng.normal(size=30),
            "label": np.arange(30) % 3,
        }
    )
    table.to_csv(where / "table.csv", index=False)
    table.iloc[:0].to_csv(where / "empty.csv", index=False)
    holes = table.copy()
    holes.loc[[3, 7], "beta"] = np.nan
    holes.to_csv(where / "nan.csv", index=False)
    seizure = pd.DataFrame(rng.normal(size=(100, 178)), columns=[f"X{i}" for i in range(1, 179)])
    seizure.insert(0, "Unnamed", [f"X{i}.V1.{i}" for i in range(100)])
    seizure["y"] = np.arange(100) % 5 + 1
    seizure.to_csv(where / "seizure.csv", index=False)
    (where / "tiny.yaml").write_text(TINY)
    return where


def run_cli(workdir, *command_lines):
    # A proxy on a closed port: downloads fail at once, as on a machine without network.
    env = {
        **os.environ,
        "https_proxy": "http://127.0.0.1:9",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "KERAS_HOME": str(workdir / "keras-home"),
    }
    return run_all(*command_lines, cwd=workdir, env=env)


CASES = [
    # (id, args, expected fragments, may import keras)
    (
        "missing-file",
        ["train", "recipe=seizure_binary"],
        [
            "error: data.path: no such file 'data/epileptic_seizure_recognition.csv' (resolved to ",
            "Epileptic Seizure Recognition",
            "put it there, or pass data.path=...",
        ],
        False,
    ),
    (
        "missing-split-files",
        ["train", "recipe=wine_quality"],
        [
            "error: data.train_path: no such file 'data/train/train_data.csv'",
            "error: data.val_path: no such file",
            "error: data.test_path: no such file",
            "data=wine_quality_csv",
        ],
        False,
    ),
    (
        "unknown-column",
        ["train", "recipe=./tiny.yaml", "data.target=lable"],
        [
            "error: data.target: no column 'lable'",
            "did you mean 'label'?",
            "columns of table.csv: id, alpha, beta, gamma, label",
        ],
        False,
    ),
    (
        "unknown-output",
        ["train", "recipe=./tiny.yaml", "data.target={outt: label}"],
        ["error: data.target.outt: the model has no output 'outt'", "did you mean 'out'?"],
        False,
    ),
    (
        "output-without-data",
        ["train", "recipe=./tiny.yaml", "data.target={}"],
        ["error: data.target: gives no data for the model's output 'out'", "add out: COLUMNS"],
        False,
    ),
    (
        "feature-count",
        ["train", "recipe=./tiny.yaml", "data.features=[alpha,beta]"],
        ["error: model.inputs.input.shape: the model takes 3 features per sample; the data has 2"],
        False,
    ),
    (
        "not-numeric",
        ["train", "recipe=./tiny.yaml", "data.features=[id,beta,gamma]"],
        ["error: data.features: table.csv: column 'id' is not numeric (data row 1 holds 'r0')"],
        False,
    ),
    (
        "labels-out-of-range",
        ["train", "recipe=./tiny.yaml", "model.nodes.out.units=2"],
        [
            "error: model.outputs.out: labels run from 0 to 2 (3 classes), but an output of 2 unit(s) takes labels 0 to 1",
            "hint: give the output layer 3 units, or check data.target",
        ],
        True,
    ),
    (
        "binary-labels",
        ["train", "recipe=seizure_binary", "data.path=seizure.csv", "data.preprocess.positive=null"],
        [
            "error: model.outputs.final: binary_crossentropy takes labels 0 and 1; the train split has 1, 2, 3, 4, 5",
            "data.preprocess.positive=LABEL",
        ],
        False,
    ),
    (
        "npz-as-csv",
        ["train", "recipe=./tiny.yaml", "data.path=x.npz"],
        ["error: data.path: x.npz ends in .npz, but data.source is csv", "hint: read it with data=npz"],
        False,
    ),
    (
        "delimiter",
        ["train", "recipe=./tiny.yaml", "data.delimiter=ab"],
        ["error: data.delimiter: expected one character, got 'ab'", "hint: for a tab: data.delimiter=tab"],
        False,
    ),
    (
        "fractions",
        ["train", "recipe=./tiny.yaml", "data.test_split=20"],
        ["error: data.test_split: expected a fraction in [0, 1), got 20", "hint: for 20%, write 0.2"],
        False,
    ),
    (
        "empty-split",
        ["train", "recipe=./tiny.yaml", "data.val_path=empty.csv"],
        ["error: data.val_path: empty.csv has no rows: that split would be empty"],
        False,
    ),
    (
        "directory-without-stream",
        ["train", "recipe=./tiny.yaml", "data.path=."],
        ["error: data.path: '.' is a directory", "set data.stream=true to read every .csv file in it"],
        False,
    ),
    (
        "nan",
        ["train", "recipe=./tiny.yaml", "data.path=nan.csv"],
        ["error: data.features: nan.csv has NaN in feature column 'beta' (2 NaN), the first in data row 4"],
        False,
    ),
    (
        "labels-vs-loss",
        ["train", "recipe=digits_mlp", "data.preprocess.labels=sparse"],
        [
            "error: data.preprocess.labels: sparse labels do not fit output 'predictions': its loss categorical_crossentropy takes one-hot vectors",
            "data.preprocess.labels=auto",
        ],
        False,
    ),
    (
        "kfold-one",
        ["train", "recipe=./tiny.yaml", "train.kfold=1"],
        ["error: train.kfold: expected 0 (off) or a number of folds of 2 or more, got 1"],
        False,
    ),
    (
        "kfold-too-many",
        ["train", "recipe=./tiny.yaml", "train.kfold=50", "data.stratify=false"],
        ["error: train.kfold: 50 folds of 24 samples: a fold would be empty", "hint: use at most 24 folds"],
        False,
    ),
    (
        "stream-in-memory-source",
        ["train", "recipe=digits_mlp", "data.stream=true"],
        ["error: data.stream: streaming reads npz or csv files; source 'digits' is loaded into memory"],
        False,
    ),
    (
        "path-for-bundled-set",
        ["train", "recipe=digits_mlp", "data.path=table.csv"],
        ["error: data.path: source 'digits' reads no file"],
        False,
    ),
    (
        "keras-offline",
        ["train", "recipe=digits_mlp", "data=imdb"],
        [
            "error: data.source: cannot download imdb (no network",
            "https://storage.googleapis.com/tensorflow/tf-keras-datasets/imdb.npz",
            "pass data.path=/path/to/imdb.npz",
            "datasets/imdb.npz",
        ],
        True,
    ),
    (
        "keras-option",
        ["train", "recipe=digits_mlp", "data=imdb", "+data.options.num_word=5"],
        [
            "error: data.options.num_word: keras.datasets.imdb.load_data takes no argument 'num_word'",
            "did you mean 'num_words'?",
        ],
        True,
    ),
]


# Training on MNIST where it cannot be downloaded: the small digits model on its
# 784 pixels, since the fallback is what is under test. Run last, in the same interpreter.
MNIST_OFFLINE = [
    "-q",
    "train",
    "recipe=digits_mlp",
    "data=mnist",
    "model.inputs.input.shape=[784]",
    "train.epochs=1",
    "data.limit=200",
    "run.dir=fallback-runs",
]


@pytest.fixture(scope="module")
def results(workdir):
    """Every case's result, by id: the Keras-free cases first, then the others."""
    ordered = sorted(CASES, key=lambda case: case[3])
    found = run_cli(workdir, *(case[1] for case in ordered), MNIST_OFFLINE)
    return dict(zip([case[0] for case in ordered] + ["mnist-offline"], found))


@pytest.mark.parametrize(
    "case, fragments, may_import_keras", [(c[0], c[2], c[3]) for c in CASES], ids=[c[0] for c in CASES]
)
def test_data_error_exits_2_with_message(results, workdir, case, fragments, may_import_keras):
    result = results[case]
    assert result["code"] == 2, result["out"]
    text = " ".join(result["out"].split())  # the console wraps long lines
    for fragment in fragments:
        assert " ".join(fragment.split()) in text
    assert "Traceback" not in result["out"]
    assert len(result["out"].splitlines()) <= 25  # one screen
    if not may_import_keras:
        assert result["heavy"] == [], f"imported {result['heavy']} just to report a data error"
    assert not any((workdir / "outputs").rglob("model.keras"))


def test_mnist_offline_falls_back_to_the_shipped_subset_and_says_so(results):
    result = results["mnist-offline"]
    assert result["code"] == 0, result["out"]
    text = " ".join(result["out"].split())
    assert "MNIST could not be downloaded (no network" in text and "5,000-sample MNIST subset" in text


# --- One mistake at a time, in this interpreter: each test writes its own tiny file ---------


def five_columns(where, label, name="five.csv", rows=60):
    """a..e normal floats and a `label` column from `label(i)`; the recipe five.yaml beside it."""
    rng = np.random.default_rng(0)
    table = pd.DataFrame({c: rng.normal(size=rows) for c in "abcde"})
    table["label"] = [label(i) for i in range(rows)]
    table.to_csv(where / name, index=False)
    (where / "five.yaml").write_text(FIVE)
    return where / name


def failing(cli, *args):
    """The one screen a data mistake prints (exit 2, no traceback), spaces normalised."""
    code, out, err = cli("train", "recipe=./five.yaml", *args)
    text = out + err
    assert code == 2, text
    assert "Traceback" not in text
    return " ".join(text.split())


@pytest.mark.parametrize(
    "loss, hint",
    [
        ("binary_crossentropi", "did you mean 'binary_crossentropy'"),
        ("mse", "labels take a classification loss: binary_crossentropy, "),
        ("kl_divergence", "sparse_categorical_crossentropy"),
    ],
)
def test_string_labels_with_a_regression_loss_name_the_loss(cli, in_tmp, loss, hint):
    five_columns(in_tmp, lambda i: "yes" if i % 2 else "no")
    text = failing(cli, f"model.outputs.out.loss={loss}")
    said = "" if loss.endswith("crossentropi") else ": it treats them as numbers"
    assert (
        f"error: model.outputs.out.loss: the targets are labels like 'no', but '{loss}' is no classification loss{said}"
        in text
    )
    assert f"hint: {hint}" in text or hint in text.split("hint: ", 1)[1]


def test_a_word_among_regression_targets_is_named_by_its_row(cli, in_tmp):
    five_columns(in_tmp, lambda i: "n/a?" if i in (7, 9) else 1.5 * i)  # a price with two typos
    text = failing(cli, "model.outputs.out.loss=mse")
    assert (
        "error: data.target: output 'out' regresses numbers, but its target in data row 8 is 'n/a?' (2 such values)"
        in text
    )


def test_string_labels_with_a_scaled_regression_target_name_the_loss(cli, in_tmp):
    five_columns(in_tmp, lambda i: "yes" if i % 2 else "no")
    text = failing(cli, "model.outputs.out.loss=mse", "data.preprocess.target_scaler=standard")
    assert (
        "error: model.outputs.out.loss: the targets are labels like 'no', but 'mse' is no classification loss" in text
    )


@pytest.mark.parametrize("stratify", ["true", "false"])
def test_continuous_target_with_a_classification_loss_is_caught_before_the_split(cli, in_tmp, stratify):
    five_columns(in_tmp, lambda i: 50 + 1.125 * i)  # a price: 60 distinct values
    text = failing(cli, f"data.stratify={stratify}")
    assert (
        "error: model.outputs.out.loss: binary_crossentropy takes class labels, which must be whole numbers or strings; the targets are not (60 distinct values, e.g. 51.125)"
        in text
    )
    assert "hint: use a regression loss such as mean_squared_error" in text
    assert "np.float64" not in text and "stratified" not in text and "too few members" not in text


def yes_no(i):
    return "yes" if i % 2 else "no"


@pytest.mark.parametrize(
    "features, fragments",
    [
        (
            "[0,a,-1,b]",
            [
                "error: data.features: column 'label' of five.csv is the target (data.target) and also a feature: the model would see its own label",
                "hint: leave it out of data.features, e.g. data.features=[0,1,2,3,4]",
            ],
        ),
        (
            "[a,b,c,d,a]",
            ["error: data.features: column 'a' of five.csv is selected twice", "hint: select each column once"],
        ),
        ("[0,b,c,d,a]", ["error: data.features: column 'a' of five.csv is selected twice"]),
        ("'0:40'", ["error: data.features: the slice '0:40' runs past the columns: five.csv has 6 (positions 0 to 5)"]),
        (
            "[0,1,2,3,9]",
            [
                "error: data.features: no column 9: five.csv has 6 columns (positions 0 to 5)",
                "hint: columns are numbered 0 to 5 (or -6 to -1 from the end)",
            ],
        ),
    ],
    ids=["target-among-features", "column-twice", "index-and-name-twice", "slice-past-the-end", "index-out-of-range"],
)
def test_csv_column_selection_mistakes(cli, in_tmp, features, fragments):
    five_columns(in_tmp, yes_no)
    text = failing(cli, f"data.features={features}")
    for fragment in fragments:
        assert fragment in text


def test_a_slice_covering_the_target_is_label_leakage(cli, in_tmp):
    table = pd.read_csv(five_columns(in_tmp, yes_no))
    table[["a", "b", "label", "c", "d", "e"]].to_csv(in_tmp / "middle.csv", index=False)
    text = failing(cli, "data.path=middle.csv", "data.features='0:5'")
    assert "error: data.features: column 'label' of middle.csv is the target (data.target) and also a feature" in text
    assert "data.features=[0,1,3,4,5]" in text


def test_an_unquoted_yaml_slice_is_a_base_60_number(cli, in_tmp):
    five_columns(in_tmp, yes_no)
    (in_tmp / "five.yaml").write_text(
        FIVE.replace("  target: label\n", "  target: label\n  features: 1:4\n")
    )  # YAML 1.1: 1*60 + 4
    text = failing(cli)  # refused as the recipe file is read, whether or not a column 64 exists
    assert "error: data.features: YAML reads the unquoted 1:4 as a base-60 number (64) in " in text
    assert "hint: quote it: '1:4'" in text


def test_labels_numbered_from_1_say_the_output_takes_0_to_k_minus_1(cli, in_tmp):
    five_columns(in_tmp, lambda i: i % 3 + 1)  # classes 1, 2, 3
    text = failing(
        cli,
        "model.nodes.out.units=3",
        "model.nodes.out.activation=softmax",
        "model.outputs.out.loss=sparse_categorical_crossentropy",
    )
    assert (
        "error: model.outputs.out: labels run from 1 to 3 (3 classes), but an output of 3 unit(s) takes labels 0 to 2"
        in text
    )
    assert "hint: number the classes from 0, or give the output layer 4 units" in text


def test_a_group_option_s_defaults_are_not_blamed_on_the_command_line(cli, in_tmp):
    five_columns(in_tmp, yes_no)
    (in_tmp / "five.yaml").write_text(
        FIVE.replace("  source: csv\n  path: five.csv\n  target: label\n", "").replace(
            "data:\n", "defaults:\n  - override /data: csv\n"
        )
    )
    np.savez(in_tmp / "five.npz", features=np.zeros((60, 5)), label=np.zeros(60))
    text = failing(cli, "data=npz", "data.path=five.npz")
    assert "error: data.features: five.npz has no array 'x' hint: arrays: features, label" in text


def test_too_few_units_for_word_labels_lists_the_labels(cli, in_tmp):
    five_columns(in_tmp, lambda i: ["cat", "Cat", "dog"][i % 3])  # one label spelt two ways
    text = failing(
        cli,
        "model.nodes.out.units=2",
        "model.nodes.out.activation=softmax",
        "model.outputs.out.loss=sparse_categorical_crossentropy",
    )
    assert "error: model.outputs.out: the data has 3 labels (Cat, cat, dog), but the output has 2 unit(s)" in text
    # check reads the data as train does, through the built model's units
    code, out, err = cli(
        "check",
        "recipe=./five.yaml",
        "model.nodes.out.units=2",
        "model.nodes.out.activation=softmax",
        "model.outputs.out.loss=sparse_categorical_crossentropy",
    )
    assert code == 2 and "the data has 3 labels (Cat, cat, dog), but the output has 2 unit(s)" in " ".join(err.split())


def test_a_missing_column_names_the_file_it_is_missing_from(cli, in_tmp):
    table = pd.read_csv(five_columns(in_tmp, yes_no))
    table.drop(columns="label").to_csv(in_tmp / "unlabelled.csv", index=False)
    text = failing(cli, "data.test_path=unlabelled.csv")
    assert "error: data.target: no column 'label'" in text
    assert "hint: columns of unlabelled.csv: a, b, c, d, e" in text


@pytest.mark.parametrize(
    "args, fragments",
    [
        (
            ["data.header=false", "data.target=-1"],
            [
                "error: data.features: five.csv: column '0' is not numeric (data row 1 holds 'a')",
                "hint: only its first value is not a number: that row is a header, so set data.header=true",
            ],
        ),
        (
            ["data.header=false"],
            [
                "error: data.target: no column 'label'",
                "hint: 'label' is in the first row of five.csv, so the file has a header: set data.header=true",
            ],
        ),
        (
            ["data.header=false", "data.target=kind"],
            [
                "error: data.target: no column 'kind'",
                "hint: five.csv has no header (data.header=false), so its columns are numbered 0 to",
            ],
        ),
    ],
    ids=["numeric-column", "named-column", "name-without-header"],
)
def test_a_header_read_as_data_hints_header_true(cli, in_tmp, args, fragments):
    five_columns(in_tmp, yes_no)
    text = failing(cli, *args)
    for fragment in fragments:
        assert fragment in text


@pytest.mark.parametrize("sep, shown", [(";", ";"), ("\t", "\\t")], ids=["semicolon", "tab"])
@pytest.mark.parametrize("target", ["label", "null"], ids=["named-target", "default-target"])
def test_one_column_holding_the_separator_hints_the_delimiter(cli, in_tmp, sep, shown, target):
    pd.read_csv(five_columns(in_tmp, yes_no)).to_csv(in_tmp / "five.csv", sep=sep, index=False)
    text = failing(cli, f"data.target={target}")
    assert f"hint: five.csv was read as one column, 'a{shown}b{shown}c" in text
    assert ("data.delimiter=tab" if sep == "\t" else "\"data.delimiter=';'\"") in text


@pytest.mark.parametrize("stratify", ["true", "false"])
def test_a_limit_that_leaves_a_class_out_of_training_blames_the_limit(cli, in_tmp, stratify):
    five_columns(in_tmp, yes_no)
    text = failing(cli, "data.limit=1", f"data.stratify={stratify}")
    assert "error: data.limit: keeps only 1 training sample(s), too few: they never have label(s) " in text
    assert "hint: raise data.limit (it keeps the first N training samples), or set it to null" in text
    assert "data.stratify=true" not in text


def test_a_given_val_file_with_labels_training_never_has_names_the_file(cli, in_tmp):
    table = pd.read_csv(five_columns(in_tmp, yes_no))
    table[table.label == "no"].to_csv(in_tmp / "train-no.csv", index=False)
    text = failing(cli, "data.path=null", "data.train_path=train-no.csv", "data.val_path=five.csv")
    assert "error: data.val_path: five.csv has label(s) yes that the training data never has" in text
    assert "data.stratify" not in text


def test_npz_arrays_of_different_lengths_are_named_as_in_the_file(cli, in_tmp):
    rng = np.random.default_rng(0)
    np.savez(in_tmp / "pairs.npz", x=rng.normal(size=(90, 5)), y=np.arange(100) % 2)
    five_columns(in_tmp, yes_no)
    text = failing(cli, "data.source=npz", "data.path=pairs.npz", "data.target=null")
    assert "error: data.path: pairs.npz: the arrays have different numbers of samples: 'x' 90, 'y' 100" in text
    assert "'out'" not in text


@pytest.mark.parametrize("setting", ["data.preprocess.scaler=standard", "data.preprocess.divide_by=255"])
def test_scaling_token_ids_is_refused(cli, setting):
    """An Embedding's integer input is never scaled, so the setting would do nothing."""
    code, _, err = cli("check", "recipe=imdb_conv1d", setting)
    assert code == 2
    assert "every model input takes integers: 'review' (int32)" in err
