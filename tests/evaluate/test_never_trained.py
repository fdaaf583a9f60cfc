"""A trained run refuses what it cannot score right: a --input file with class ids it never trained on,
or a multi-label target other than 0/1; and its own data file, changed since it trained, is not split again."""

import numpy as np
import pandas as pd
import pytest

from tests.evaluate.conftest import train

pytestmark = pytest.mark.slow

# Labels 3, 7 and 9 under a 10-unit softmax, and two 0/1 labels a sample: one trained run for every test here.
RECIPE = """\
data: {source: csv, path: rows.csv, target: {kind: label, tags: [l1, l2]}}
model:
  inputs: {x: {shape: [3]}}
  nodes:
    kind: {class: Dense, units: 10, activation: softmax, inputs: x}
    tags: {class: Dense, units: 2, activation: sigmoid, inputs: x}
  outputs: {kind: {loss: sparse_categorical_crossentropy}, tags: {loss: binary_crossentropy}}
"""


def rows(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n, 3)), columns=["a", "b", "c"])
    return frame.assign(label=rng.choice([3, 7, 9], n), l1=rng.integers(0, 2, n), l2=rng.integers(0, 2, n))


@pytest.fixture(scope="module")
def run(cli_package, tmp_path_factory):
    folder = tmp_path_factory.mktemp("never_trained")
    rows(90, 0).to_csv(folder / "rows.csv", index=False)
    (folder / "recipe.yaml").write_text(RECIPE.replace("rows.csv", str(folder / "rows.csv")))
    return train(cli_package, folder / "runs", f"recipe={folder / 'recipe.yaml'}")


def said(err: str) -> str:
    return " ".join(err.split())


def test_class_ids_the_run_never_trained_on_are_refused(cli_package, run):
    fives = run.parents[2] / "fives.csv"
    rows(12, 1).assign(label=5).to_csv(fives, index=False)
    for command in ("evaluate", "predict"):
        code, _, err = cli_package(command, run, "--input", fives)
        assert code == 2, err
        assert "fives.csv: the input split has label(s) 5 that the model never trained on (it trained on 3, 7, 9)" in (
            said(err)
        )


def test_multi_label_targets_other_than_0_or_1_are_refused(cli_package, run):
    halves = run.parents[2] / "halves.csv"
    rows(12, 2).astype({"l1": float}).assign(l1=lambda f: f.l1.where(f.index != 4, 0.5)).to_csv(halves, index=False)
    for command in ("evaluate", "predict"):
        code, _, err = cli_package(command, run, "--input", halves)
        assert code == 2, err
        assert (
            "halves.csv: output 'tags' is multi-label (each target 0 or 1), but column 'l1' has 0.5 in data row 5"
            in (said(err))
        )


def test_a_changed_data_file_is_not_split_again(cli_package, run):
    file = run.parents[2] / "rows.csv"
    kept = file.read_bytes()
    try:
        pd.concat([rows(90, 0), rows(30, 3)]).to_csv(file, index=False)  # rows appended: every split moves
        for command in (["evaluate", run], ["predict", run], ["train", "--resume", run, "train.epochs=2"]):
            code, _, err = cli_package(*command)
            assert code == 2, err
            assert f"error: data.path: {file} changed since the run trained (it was {len(kept)} bytes" in said(err)
    finally:
        file.write_bytes(kept)
