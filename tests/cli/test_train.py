"""End-to-end through the real CLI: train, evaluate, export, check, show."""

import csv
import json

import numpy as np
import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """One real training of digits_mlp, shared by the tests below."""
    import os

    from typer.testing import CliRunner

    from dlcli.cli import app

    where = tmp_path_factory.mktemp("digits")
    old = os.getcwd()
    os.chdir(where)
    try:
        result = CliRunner().invoke(
            app, ["train", "recipe=digits_mlp", "train.epochs=30", "seed=3"], catch_exceptions=False
        )
    finally:
        os.chdir(old)
    assert result.exit_code == 0, result.output
    run_dir = where / result.stdout.strip().splitlines()[-1].removeprefix("run: ")
    return where, run_dir, result


def test_training_lowers_the_loss_and_beats_chance(digits_run):
    _, run_dir, _ = digits_run
    rows = list(csv.DictReader((run_dir / "history.csv").open()))
    assert [int(r["epoch"]) for r in rows] == list(range(1, 31))
    assert float(rows[-1]["loss"]) < 0.5 * float(rows[0]["loss"])
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] > 0.9  # chance is 0.1


def test_run_directory_holds_what_design_promises(digits_run):
    _, run_dir, result = digits_run
    for name in (
        "config.yaml",
        "overrides.yaml",
        "env.json",
        "model.keras",
        "history.csv",
        "metrics.json",
        "summary.txt",
        "preprocess.json",
    ):
        assert (run_dir / name).is_file(), name
    assert (run_dir / "checkpoints" / "best.keras").is_file()
    assert (run_dir / "checkpoints" / "last.keras").is_file()
    assert (run_dir / "plots" / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    env = json.loads((run_dir / "env.json").read_text())
    assert env["backend"] == "jax" and env["keras"]
    assert "seed: 3" in (run_dir / "config.yaml").read_text()
    assert "3,466" in (run_dir / "summary.txt").read_text()
    assert run_dir.parent.name == "digits_mlp"
    assert "final metrics" in result.stdout


def test_saved_model_reloads_and_predicts_the_same(digits_run):
    import keras
    from sklearn.datasets import load_digits

    _, run_dir, _ = digits_run
    x = load_digits().data[:50].astype("float32") / 16
    best = keras.saving.load_model(run_dir / "model.keras")
    again = keras.saving.load_model(run_dir / "model.keras")
    np.testing.assert_array_equal(best.predict(x, verbose=0), again.predict(x, verbose=0))
    assert best.predict(x, verbose=0).argmax(1).tolist() != [0] * 50


def test_evaluate_reproduces_the_test_metrics(digits_run, cli, monkeypatch):
    where, run_dir, _ = digits_run
    monkeypatch.chdir(where)
    code, out, _ = cli("evaluate", "latest")
    assert code == 0, out
    evaluated = json.loads((run_dir / "eval.json").read_text())
    trained = json.loads((run_dir / "metrics.json").read_text())
    assert evaluated["metrics"]["accuracy"] == pytest.approx(trained["test"]["accuracy"], abs=1e-6)
    assert evaluated["samples"] == 360


def test_export_keras_checks_parity(digits_run, cli, monkeypatch):
    where, run_dir, _ = digits_run
    monkeypatch.chdir(where)
    code, out, _ = cli("export", "digits_mlp/latest", "--format", "keras")
    assert code == 0, out
    assert (run_dir / "export" / "model.keras").is_file()
    assert "parity: max |keras - keras| = 0" in out


def test_export_onnx_checks_parity(digits_run, cli, monkeypatch):
    import onnxruntime

    where, run_dir, _ = digits_run
    monkeypatch.chdir(where)
    code, out, err = cli("export", str(run_dir), "--format", "onnx")
    assert code == 0, err
    assert "parity: max |keras - onnx|" in out
    session = onnxruntime.InferenceSession(str(run_dir / "export" / "model.onnx"))
    assert [i.shape[1] for i in session.get_inputs()] == [64]
    assert [o.name for o in session.get_outputs()] == ["predictions"]  # the model's output, not softmax_out_0


def test_export_unknown_format_is_a_usage_error(digits_run, cli, monkeypatch):
    monkeypatch.chdir(digits_run[0])
    code, _, err = cli("export", "latest", "--format", "onnxx")
    assert code == 2 and "did you mean 'onnx'" in err


def test_evaluate_unknown_run_is_a_usage_error(cli, in_tmp):
    code, _, err = cli("evaluate", "nope/2020-01-01_00-00-00")
    assert code == 2
    assert "no run 'nope/2020-01-01_00-00-00'" in err


def test_overrides_reach_the_run(cli, in_tmp):
    code, out, err = cli(
        "train",
        "recipe=digits_mlp",
        "train.epochs=2",
        "train.batch_size=128",
        "optimizer.learning_rate=1e-4",
        "seed=7",
        "data.limit=300",
    )
    assert code == 0, err
    run_dir = in_tmp / out.strip().splitlines()[-1].removeprefix("run: ")
    config = (run_dir / "config.yaml").read_text()
    for line in ("epochs: 2", "batch_size: 128", "learning_rate: 0.0001", "seed: 7", "limit: 300"):
        assert line in config
    assert "train.epochs=2" in (run_dir / "overrides.yaml").read_text()
    assert len(list(csv.DictReader((run_dir / "history.csv").open()))) == 2


@pytest.mark.parametrize(
    "recipe, params", [("mnist_dropout", 567_434), ("mnist_l2", 567_434), ("mnist", 567_434), ("digits_mlp", 3_466)]
)
def test_check_json_matches_the_seed(cli, recipe, params):
    code, out, _ = cli("check", f"recipe={recipe}", "--json")
    assert code == 0
    info = json.loads(out)
    assert info["total_params"] == params == info["trainable_params"]
    assert info["inputs"][0]["shape"] == [None, 784 if "mnist" in recipe else 64]
    assert info["outputs"][0]["shape"] == [None, 10]


def test_check_prints_the_layer_table(cli):
    code, out, _ = cli("check", "recipe=mnist_dropout")
    assert code == 0
    for fragment in ("hidden1", "Dropout", "567,434", "inputs: input (None, 784)"):
        assert fragment in out


def test_show_prints_the_composed_config(cli):
    code, out, _ = cli("show", "recipe=mnist_dropout", "train.epochs=3")
    assert code == 0
    assert "epochs: 3" in out and "batch_size: 30" in out and "class: Dropout" in out


def test_a_group_chosen_on_the_command_line_replaces_what_the_recipe_writes_inline(in_tmp):
    """data=csv: the csv option's clean defaults, not the recipe's columns, target and scaler mixed in."""
    from dlcli.config import compose

    (in_tmp / "mine.yaml").write_text(
        "data: {source: csv, path: a.csv, features: [x1, x2], target: fruit, preprocess: {scaler: standard}}\n"
        "model:\n  inputs: {x: {shape: [2]}}\n  nodes: {out: {class: Dense, units: 3, activation: softmax}}\n"
        "  outputs: {out: {loss: sparse_categorical_crossentropy}}\n"
    )
    cfg = compose("mine.yaml", ["data=csv", "data.path=b.csv"]).cfg
    assert (cfg.data.path, cfg.data.features, cfg.data.target, cfg.data.preprocess.scaler) == (
        "b.csv",
        None,
        None,
        "none",
    )
    kept = compose("mine.yaml", ["data.path=b.csv"]).cfg  # a key alone is set in the recipe's data
    assert (kept.data.features, kept.data.target) == (["x1", "x2"], "fruit")


def test_user_recipe_by_path_and_config_dir(cli, in_tmp):
    team = in_tmp / "team"
    (team / "recipes").mkdir(parents=True)
    (team / "model").mkdir()
    (team / "model" / "tiny.yaml").write_text(
        "inputs: {input: {shape: [64]}}\nnodes:\n  out: {class: Dense, units: 10, activation: softmax}\n"
        "outputs:\n  out: {loss: categorical_crossentropy, metrics: [accuracy]}\n"
    )
    (team / "recipes" / "tiny_digits.yaml").write_text(
        "description: a team recipe\ndefaults:\n  - override /model: tiny\n  - override /data: digits\ntrain: {epochs: 1}\n"
    )
    (team / "recipes" / "broken.yaml").write_text("description: half-written\nmodel: {inputs: [\n")
    code, out, _ = cli("recipes", "--config-dir", team)
    assert code == 0 and "tiny_digits" in out and "a team recipe" in out
    assert "(not valid YAML, line 3" in " ".join(out.split())  # listed, not fatal to the others
    code, _, err = cli("check", "recipe=broken", "--config-dir", team)
    assert code == 2 and "error: recipe: cannot read" in err and "line 3" in err
    code, out, _ = cli("check", "recipe=tiny_digits", "--config-dir", team, "--json")
    assert code == 0 and json.loads(out)["total_params"] == 650
    mine = in_tmp / "experiments" / "my_net.yaml"
    mine.parent.mkdir()
    mine.write_text("defaults:\n  - override /model: digits_mlp\n  - override /data: digits\ntrain: {epochs: 1}\n")
    code, out, err = cli("train", "recipe=./experiments/my_net.yaml")
    assert code == 0, err
    assert "outputs/my_net/" in out


def test_a_damaged_model_file_is_named_with_its_spare(digits_run, cli, tmp_path):
    import shutil

    _, run_dir, _ = digits_run
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    (copy / "model.keras").write_bytes((copy / "model.keras").read_bytes()[:100])  # cut short
    code, _, err = cli("evaluate", str(copy))
    text = " ".join(err.split())
    assert (
        code == 2
        and "model.keras cannot be read: it is damaged" in text
        and "last.keras holds the same final weights" in text
    )
