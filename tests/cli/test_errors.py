"""Bad input exits 2 with one clear message naming the key, and no traceback.

The cases run in a fresh interpreter so we can also check whether JAX or
Keras were imported to find the problem (they must not be, where the check
does not need them): the table's cases all in one, those that need no Keras first.
"""

import subprocess
import sys

import pytest

from tests.fresh import run_all


def run_cli(*args):
    return run_all(list(args))[0]


# one of two processes, by the config (nothing is joined: the config is refused first)
SEVERAL = [
    "distribution=data_parallel",
    "distribution.coordinator=localhost:1",
    "distribution.num_processes=2",
    "distribution.process_id=1",
]

CASES = [
    # (id, args, expected fragments, may import keras)
    (
        "misspelt-recipe",
        ["train", "recipe=mnist_dropot"],
        ["error: recipe: unknown recipe 'mnist_dropot'", "did you mean 'mnist_dropout'", "recipes: "],
        False,
    ),
    (
        "unknown-key",
        ["train", "recipe=mnist_dropout", "train.epoch=1"],
        ["error: train.epoch: unknown key (set on the command line)", "did you mean 'epochs'"],
        False,
    ),
    (
        "wrong-type",
        ["train", "recipe=mnist_dropout", "train.epochs=abc"],
        ["error: train.epochs: expected an integer, got 'abc' (set on the command line)"],
        False,
    ),
    (
        "new-key-on-schema",
        ["train", "recipe=mnist_dropout", "+train.new=1"],
        ["error: train.new: not a key of the schema (set on the command line)", "valid keys: epochs"],
        False,
    ),
    (
        "missing-data-file",
        ["train", "recipe=mnist_dropout", "data.path=/nonexistent/mnist.npz"],
        ["error: data.path: no such file '/nonexistent/mnist.npz'"],
        False,
    ),
    (
        "bad-group-option",
        ["train", "recipe=mnist_dropout", "optimizer=adma"],
        ["error: optimizer: no config 'adma' in group 'optimizer'", "did you mean 'adam'"],
        False,
    ),
    (
        "bad-group-option-in-a-list",
        ["train", "recipe=digits_mlp", "callbacks=[early_stopping,early_stoping]"],
        [
            "error: callbacks: no config 'early_stoping' in group 'callbacks'",
            "did you mean 'early_stopping'? options for callbacks: activations, backup,",
        ],
        False,
    ),
    (
        "bad-lr",
        ["train", "recipe=mnist_dropout", "optimizer.learning_rate=fast"],
        ["error: optimizer.learning_rate: expected a number"],
        False,
    ),
    ("no-recipe", ["train"], ["error: recipe: no recipe given"], False),
    (
        "negative-seed",
        ["train", "recipe=digits_mlp", "seed=-1"],
        ["error: seed: expected an integer from 0 to 4294967295"],
        False,
    ),
    (
        "semicolon-unquoted",
        ["train", "recipe=digits_mlp", "data.delimiter=;"],
        ["error: overrides:", "quote values with characters such as ; or spaces"],
        False,
    ),
    ("bad-override-syntax", ["train", "recipe=mnist_dropout", "train.epochs"], ["error: overrides:"], False),
    (
        "add-needs-plus",
        ["check", "recipe=digits_mlp", "model.nodes.dense2.inputs=dense1"],
        [
            "error: model.nodes.dense2.inputs: unknown key (set on the command line)",
            "write +model.nodes.dense2.inputs=VALUE",
        ],
        False,
    ),
    (
        "unknown-input",
        ["check", "recipe=digits_mlp", "+model.nodes.dense2.inputs=dense9"],
        [
            "error: model.nodes.dense2.inputs: no input or node produces 'dense9' (set on the command line)",
            "did you mean 'dense1'",
        ],
        False,
    ),
    (
        "misspelt-node",
        ["check", "recipe=digits_mlp", "model.nodes.dense_1.units=4"],
        [
            "error: model.nodes.dense_1: unknown key (set on the command line)",
            "did you mean 'dense1'",
            "model.nodes has: dense1, dense2, predictions",
        ],
        False,
    ),
    (
        "name-into-a-list",
        ["check", "recipe=social_multi_output", "model.outputs.gender.loss_weight=5"],
        [
            "error: model.outputs: is a list in this config ([age, income, gender]), so 'gender' cannot index it (set on the command line)",
            "model.loss_weights.gender=",
        ],
        False,
    ),
    (
        "add-what-exists",
        ["check", "recipe=digits_mlp", "+train.epochs=3"],
        [
            "error: train.epochs: already set, so it cannot be added (set on the command line)",
            "drop the '+': train.epochs=VALUE",
        ],
        False,
    ),
    (
        "delete-what-is-not-there",
        ["check", "recipe=digits_mlp", "~train.epoch"],
        ["error: train.epoch: nothing to delete (set on the command line)", "did you mean 'epochs'"],
        False,
    ),
    (
        "delete-a-top-level-schema-key",
        ["check", "recipe=digits_mlp", "~seed"],
        ["error: seed: is part of the schema and cannot be deleted", "hint: give it another value: seed=VALUE"],
        False,
    ),
    (
        "sweep",
        ["train", "recipe=digits_mlp", "train.epochs=1,2"],
        ["error: train.epochs: 'train.epochs=1,2' is a sweep", "give one value"],
        False,
    ),
    (
        "delete-a-schema-key",
        ["check", "recipe=digits_mlp", "~data.preprocess.reshape"],
        ["error: data.preprocess.reshape: is part of the schema and cannot be deleted", "data.preprocess.reshape=null"],
        False,
    ),
    (
        "optimizer-argument",
        ["check", "recipe=digits_mlp", "optimizer=sgd", "optimizer.momentum=0.9"],
        ["error: optimizer.momentum: unknown key", "+optimizer.options.momentum=VALUE"],
        False,
    ),
    (
        "metrics-not-a-list",
        ["check", "recipe=digits_mlp", "model.outputs.predictions.metrics=accuracy"],
        ["expected a list, got 'accuracy'", "metrics: [accuracy]"],
        False,
    ),
    (
        "unknown-layer",
        ["check", "recipe=digits_mlp", "model.nodes.dense1.class=Dens"],
        ["error: model.nodes.dense1.class: unknown layer 'Dens' (set on the command line)", "did you mean 'Dense'"],
        True,
    ),
    (
        "unknown-layer-kwarg",
        ["check", "recipe=digits_mlp", "+model.nodes.dense1.unit=4"],
        [
            "error: model.nodes.dense1.unit: Dense takes no argument 'unit' (set on the command line)",
            "did you mean 'units'",
            "valid: ",
        ],
        True,
    ),
    (
        "check-reads-the-users-file",
        ["check", "recipe=diabetes_regression", "data=csv", "data.path=nope.csv"],
        ["error: data.path: no such file 'nope.csv'"],
        False,
    ),
    (
        "kfold-over-several-processes",
        [
            "train",
            "recipe=digits_mlp",
            "train.kfold=3",
            *SEVERAL,
        ],
        ["error: train.kfold: several processes train one run; train.kfold=3 trains 3", "train.fold=N"],
        False,
    ),
    (
        "ensemble-over-several-processes",
        ["train", "recipe=digits_mlp", "train.ensemble=2", *SEVERAL],
        ["error: train.ensemble: several processes train one run", "then: dlcli ensemble RUN RUN"],
        False,
    ),
    (
        "unknown-optimizer",
        ["check", "recipe=digits_mlp", "optimizer.name=adamm"],
        ["error: optimizer.name: unknown optimizer 'adamm'", "did you mean"],
        True,
    ),
    (
        "unknown-loss",
        ["check", "recipe=digits_mlp", "model.outputs.predictions.loss=categorical_crosentropy"],
        ["unknown loss 'categorical_crosentropy'", "did you mean 'categorical_crossentropy'"],
        True,
    ),
]


@pytest.fixture(scope="module")
def results():
    """Every case's result, by id: the Keras-free cases first, then the others."""
    ordered = sorted(CASES, key=lambda case: case[3])
    return dict(zip([case[0] for case in ordered], run_all(*(case[1] for case in ordered))))


@pytest.mark.parametrize(
    "case, fragments, may_import_keras", [(c[0], *c[2:]) for c in CASES], ids=[c[0] for c in CASES]
)
def test_config_error_exits_2_with_message(results, case, fragments, may_import_keras):
    result = results[case]
    assert result["code"] == 2, result["out"]
    for fragment in fragments:
        assert fragment in result["out"]
    assert "Traceback" not in result["out"]
    assert len(result["out"].splitlines()) <= 25  # one screen
    if not may_import_keras:
        assert result["heavy"] == [], f"imported {result['heavy']} just to report a config error"


def test_broken_yaml_in_a_group_file_is_a_config_error(tmp_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "broken.yaml").write_text("inputs: {x: {shape: [3]}\nnodes: [\n")
    result = run_cli("check", "recipe=digits_mlp", "model=broken", "--config-dir", str(tmp_path))
    assert result["code"] == 2
    assert "not valid YAML" in result["out"] and "broken.yaml" in result["out"]
    assert "Traceback" not in result["out"]


@pytest.mark.parametrize(
    "line, fragments",
    [
        (
            "train: {batch_sise: 3}",
            ["error: train.batch_sise: unknown key (in ", "typo.yaml)", "did you mean 'batch_size'"],
        ),
        ("train: {epochs: two}", ["error: train.epochs: expected an integer, got 'two' (in ", "typo.yaml)"]),
        ("- a list", ["error: recipe: ", "typo.yaml holds a YAML list, not a mapping of config keys"]),
        ("data: [1, 2]", ["error: data: expected a section of settings, got a list (in ", "hint: write data: {"]),
        (  # a column slice YAML 1.1 reads as column 63
            "data: {features: [1:3]}",
            [
                "error: data.features.0: YAML reads the unquoted 1:3 as a base-60 number (63) in ",
                "hint: quote it: '1:3'",
            ],
        ),
        (
            "defaults: [{override /modle: digits_mlp}]",
            ["error: defaults: 'override /modle' names no config group (in ", "hint: did you mean 'model'?"],
        ),
    ],
)
def test_a_mistake_in_the_users_recipe_file_names_the_key_and_the_file(tmp_path, line, fragments):
    (tmp_path / "typo.yaml").write_text(f"{line}\n" if line.startswith("-") else f"description: mine\n{line}\n")
    result = run_cli("check", f"recipe={tmp_path / 'typo.yaml'}")
    assert result["code"] == 2 and result["heavy"] == []
    for fragment in fragments:
        assert fragment in " ".join(result["out"].split())


@pytest.mark.parametrize(
    "args",
    [
        ["--debug", "train", "recipe=mnist_dropout", "train.epochs=abc"],
        ["train", "recipe=mnist_dropout", "train.epochs=abc", "--debug"],
    ],
    ids=["before", "after"],
)
def test_debug_shows_the_traceback(args):
    result = run_cli(*args)
    assert result["code"] == 2
    assert "Traceback" in result["out"]


def test_help_imports_neither_jax_nor_keras():
    result = run_cli("--help")
    assert result["code"] == 0
    assert "train" in result["out"] and "smoke" in result["out"]
    assert result["heavy"] == []


def test_console_script_runs():
    proc = subprocess.run(["dlcli", "--version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.startswith("dlcli ")
    proc = subprocess.run([sys.executable, "-m", "dlcli", "recipes"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "mnist_dropout" in proc.stdout
