"""`dlcli predict`: a run's model and saved preprocessing on new samples or its own splits."""

import json

import numpy as np
import pandas as pd
import pytest

PETS = """
description: pets from two measurements, labelled with words
model:
  inputs: {x: {shape: [2]}}
  nodes:
    hidden: {class: Dense, units: 8, activation: relu}
    pet: {class: Dense, units: 1, activation: sigmoid}
  outputs:
    pet: {loss: binary_crossentropy, metrics: [accuracy]}
data:
  source: csv
  path: pets.csv
  preprocess: {scaler: standard}
train: {epochs: 15, batch_size: 16}
"""


def _train(cli, *args) -> str:
    code, out, err = cli("-q", "train", *args)
    assert code == 0, err
    return out.strip().splitlines()[-1].removeprefix("run: ")


@pytest.mark.slow
def test_new_samples_get_word_labels_through_the_saved_scaler(cli, in_tmp, monkeypatch):
    rng = np.random.default_rng(0)
    weight, height = rng.normal(10, 3, 300), rng.normal(30, 8, 300)
    pet = np.where(2 * weight + 0.5 * height > 35, "dog", "cat")
    pd.DataFrame({"weight": weight, "height": height, "pet": pet}).to_csv("pets.csv", index=False)
    (in_tmp / "pets.yaml").write_text(PETS)
    run = in_tmp / _train(cli, "recipe=./pets.yaml")

    # A split's predictions join back to the rows of the file it was cut from, by source_row.
    code, _, err = cli("predict", str(run), "--split", "val", "--rows", "0")
    assert code == 0, err
    val = pd.read_csv(run / "predictions" / "val.csv")
    assert val.columns[0] == "source_row" and val.source_row.is_unique
    assert (pet[val.source_row] == val.pet_true).all() and not (pet[: len(val)] == val.pet_true).all()

    new = pd.DataFrame({"weight": [4.0, 20.0, 10.0], "height": [20.0, 45.0, 31.0]})
    new.to_csv("new.csv", index=False)  # features only: the model's two columns
    code, out, err = cli("predict", str(run), "--input", "new.csv")
    assert code == 0, err
    written = pd.read_csv(run / "predictions" / "new.csv")
    assert list(written.columns) == ["pet", "pet_prob_dog"]
    assert list(written.pet[:2]) == ["cat", "dog"]
    assert list(written.pet) == ["dog" if p > 0.5 else "cat" for p in written.pet_prob_dog]
    assert cli("predict", str(run), "-i", "new.csv", "-o", "new.npz")[0] == 0
    with np.load(in_tmp / "new.npz") as saved:  # labels as strings: no pickle needed
        assert saved["pet"].tolist() == list(written.pet)

    import keras

    state = json.loads((run / "preprocess.json").read_text())["state"]["x"]["x"]
    by_hand = (new.to_numpy() - state["offset"]) / state["scale"]  # the scaler fit on the training split, not refit
    expected = keras.saving.load_model(run / "model.keras").predict(by_hand.astype("float32"), verbose=0)[:, 0]
    np.testing.assert_allclose(written.pet_prob_dog, expected, rtol=1e-5)

    new.assign(pet=["cat", "dog", "dog"]).to_csv("labelled.csv", index=False)
    (in_tmp / "elsewhere").mkdir()  # the run keeps its data file's absolute path: evaluate works from anywhere
    monkeypatch.chdir(in_tmp / "elsewhere")
    code, _, err = cli("evaluate", str(run))
    assert code == 0 and "pets.csv" not in err, err
    monkeypatch.chdir(in_tmp)
    code, out, err = cli("predict", str(run), "-i", "labelled.csv", "--rows", "0")
    assert code == 0, err
    labelled = pd.read_csv(run / "predictions" / "labelled.csv")
    assert list(labelled.pet_true) == ["cat", "dog", "dog"]
    assert f"pet: accuracy {np.mean(labelled.pet == labelled.pet_true):.4f} against the given targets" in out
    code, _, err = cli("evaluate", str(run), "--input", "labelled.csv")  # every row scored, none re-split
    assert code == 0, err
    scored = json.loads((run / "eval-1.json").read_text())
    assert scored["samples"] == 3 and scored["metrics"]["accuracy"] == pytest.approx(
        np.mean(labelled.pet == labelled.pet_true)
    )
    code, _, err = cli("evaluate", str(run), "--input", "new.csv")
    assert code == 2 and "error: --input: new.csv has no targets for pet (data.target)" in " ".join(err.split())
    # Targets partly given: predict labels every row and scores those with a target; evaluate names the others.
    new.assign(pet=["cat", None, "dog"]).to_csv("partly.csv", index=False)
    code, out, err = cli("predict", str(run), "-i", "partly.csv", "--rows", "0")
    assert code == 0, err
    partly = pd.read_csv(run / "predictions" / "partly.csv")
    pd.testing.assert_frame_equal(partly.drop(columns="pet_true"), written)
    assert partly.pet_true.isna().tolist() == [False, True, False]
    right = np.mean(partly.pet[[0, 2]] == ["cat", "dog"])
    assert f"pet: accuracy {right:.4f} against the given targets" in out
    code, _, err = cli("evaluate", str(run), "--input", "partly.csv")
    assert code == 2 and "error: --input: partly.csv has no target for pet in data row 2" in " ".join(err.split())
    # A label the run never had is refused by both commands: never scored as a wrong answer.
    new.assign(pet=["cat", "dog", "fish"]).to_csv("fish.csv", index=False)
    for command in ("predict", "evaluate"):
        code, _, err = cli(command, str(run), "--input", "fish.csv", *(["-o", "out/fish.csv"] * (command == "predict")))
        assert code == 2 and "error: --input: fish.csv: the input split has label(s) fish" in " ".join(err.split()), err
    assert not (in_tmp / "out").exists()

    for args, message in [
        (["-i", "nothing.csv"], "error: --input: no file 'nothing.csv'"),
        (
            ["-i", "labelled.csv", "-o", "new.csv"],
            "error: --output: new.csv exists hint: choose another path, or add --force to replace it",
        ),
        (["-i", "labelled.csv", "-o", "p.json"], "error: --output: p.json is neither .csv nor .npz"),
        (["--split", "dev"], "Invalid value for '--split'"),
    ]:
        code, _, err = cli("predict", str(run), *args)
        assert code == 2 and message in " ".join(err.split())
    # What decides which rows and columns the model sees stays the run's: other columns would be fed in the
    # trained ones' places, another seed or fraction would put training rows in the test split.
    for override in (
        "train.epochs=3",
        "data.preprocess.scaler=minmax",
        "data.features=[height,weight]",
        "data.target=weight",
        "data.seed=3",
        "data.test_split=0.5",
        "data.limit=100",
        "data.test_path=pets.csv",  # the run cut its test split from its data file
        "data.stream=true",
    ):
        for command in ("evaluate", "predict"):
            code, _, err = cli(command, str(run), override)
            assert code == 2 and f"error: {override.split('=')[0]}: a finished run keeps its model" in err, err
    code, _, err = cli("evaluate", str(run), "data.lmit=3")
    assert code == 2 and "did you mean 'limit'" in err
    pd.DataFrame({"weight": [1.0]}).to_csv("narrow.csv", index=False)
    code, _, err = cli("predict", str(run), "-i", "narrow.csv")
    assert code == 2 and "error: --input: narrow.csv has no column 'height' (training read weight, height)" in " ".join(
        err.split()
    )

    # Training read its columns by position, and kept their names: a file with them in another order,
    # or with more columns, is read by name; a file under other names is refused, never read by position
    # (the values of 'H' would be fed to the model as weights); without a header, only data.header=false
    # reads by position.
    new[["height", "weight"]].assign(id=[7, 8, 9]).to_csv("shuffled.csv", index=False)
    new.set_axis(["w", "h"], axis=1).to_csv("renamed.csv", index=False)
    new[["height", "weight"]].set_axis(["Height", "Weight"], axis=1).to_csv("capitals.csv", index=False)
    new.assign(pet=["cat", "dog", "dog"]).set_axis(["W", "H", "pet"], axis=1).to_csv(
        "capitals-labelled.csv", index=False
    )
    new.to_csv("noheader.csv", index=False, header=False)
    new.to_csv("semicolons.csv", index=False, sep=";")
    for name, message in [
        (
            "noheader",
            "error: --input: noheader.csv has no header line: its first row is numbers (4.0, 20.0, ...) hint: give it the training file's header (weight, height)",
        ),
        (
            "renamed",
            "error: --input: renamed.csv has no columns 'weight', 'height' (training read weight, height) "
            "hint: its columns are w, h; give the training data's columns, in any order",
        ),
        (
            "capitals",
            "error: --input: capitals.csv has no columns 'weight', 'height' (training read weight, height) "
            "hint: for 'weight', did you mean 'Weight'?; for 'height', did you mean 'Height'?; give the training",
        ),
        (
            "semicolons",
            "error: --input: semicolons.csv was read as one column hint: semicolons.csv was read as one column, 'weight;height': pass \"data.delimiter=';'\"",
        ),
    ]:
        code, _, err = cli("predict", str(run), "-i", f"{name}.csv")
        assert code == 2 and message in " ".join(err.split()), err
    code, _, err = cli("evaluate", str(run), "-i", "capitals-labelled.csv")
    assert code == 2 and "capitals-labelled.csv has no columns 'weight', 'height'" in " ".join(err.split()), err
    assert not (run / "predictions" / "renamed.csv").exists() and not (run / "eval-2.json").exists()
    for name, args in [("shuffled", []), ("noheader", ["data.header=false"])]:
        assert cli("predict", str(run), "-i", f"{name}.csv", "--rows", "0", *args)[0] == 0
        pd.testing.assert_frame_equal(pd.read_csv(run / "predictions" / f"{name}.csv"), written)

    # The run's data file may move; another file in its place is refused, as a changed one is.
    (in_tmp / "moved").mkdir()
    (in_tmp / "moved" / "pets.csv").write_bytes((in_tmp / "pets.csv").read_bytes())
    code, _, err = cli("evaluate", str(run), "data.path=moved/pets.csv", "data.preprocess.scaler=standard")
    assert code == 0, err  # (repeating the run's own value is no change)
    pd.read_csv("pets.csv")[:250].to_csv("moved/pets.csv", index=False)
    code, _, err = cli("evaluate", str(run), "data.path=moved/pets.csv")
    assert code == 2 and "is not the file the run trained on" in err and "--input" in err, err


@pytest.mark.slow
def test_a_split_is_predicted_as_evaluate_scores_it_and_never_overwritten(cli, in_tmp):
    run = in_tmp / _train(cli, "recipe=digits_mlp", "train.epochs=3")
    code, out, err = cli("predict", str(run))
    assert code == 0, err
    code, _, err = cli("evaluate", str(run))
    assert code == 0, err
    accuracy = json.loads((run / "eval.json").read_text())["metrics"]["accuracy"]
    assert f"predictions: accuracy {accuracy:.4f} against the given targets" in out

    first = pd.read_csv(run / "predictions" / "test.csv")
    probs = first[[f"predictions_prob_{k}" for k in range(10)]].to_numpy()
    assert len(first) == 360 and np.allclose(probs.sum(axis=1), 1, atol=1e-5)
    assert (first.predictions == probs.argmax(axis=1)).all()
    assert np.mean(first.predictions == first.predictions_true) == pytest.approx(accuracy, abs=1e-6)

    code, out, err = cli("predict", str(run), "--split", "val", "-o", "val.npz")
    assert code == 0, err
    with np.load(in_tmp / "val.npz", allow_pickle=False) as saved:
        assert saved["predictions"].shape == (len(saved["predictions_true"]),)
    assert cli("predict", str(run))[0] == 0
    assert (run / "predictions" / "test-1.csv").is_file()
    pd.testing.assert_frame_equal(pd.read_csv(run / "predictions" / "test.csv"), first)
    code, out, err = cli("evaluate", str(run), "--split", "val")  # a second evaluation goes beside the first
    assert code == 0 and f"wrote {run / 'eval-1.json'}" in " ".join(out.split()), err
    assert json.loads((run / "eval.json").read_text())["metrics"]["accuracy"] == accuracy
    assert json.loads((run / "eval-1.json").read_text())["split"] == "val"

    # Class numbers beyond the model's, or words where training had numbers: refused by both commands.
    from sklearn.datasets import load_digits

    frame = load_digits(as_frame=True).frame
    frame.assign(target=frame.target.where(frame.index != 3, 11)).to_csv(in_tmp / "eleven.csv", index=False)
    frame.assign(target=frame.target.astype(object).where(frame.index != 5, "seven")).to_csv(
        in_tmp / "words.csv", index=False
    )
    for name, message in [
        ("eleven", "eleven.csv: the input split has label(s) 11 that the model's classes, 0 to 9, do not include"),
        ("words", "words.csv: output 'predictions' has labels seven in the input split, where the training split's"),
    ]:
        for command in ("predict", "evaluate"):
            code, _, err = cli(command, str(run), "--input", f"{name}.csv")
            assert code == 2 and f"error: --input: {message}" in " ".join(err.split()), err


@pytest.mark.slow
def test_regression_predictions_come_back_in_original_units(cli, in_tmp):
    from sklearn.datasets import load_diabetes

    run = in_tmp / _train(cli, "recipe=diabetes_regression", "train.epochs=2")
    code, out, err = cli("predict", str(run), "--rows", "3")
    assert code == 0, err
    written = pd.read_csv(run / "predictions" / "test.csv")
    assert list(written.columns) == ["source_row", "final_true", "final"]
    # unscaled back to the data's units, and joined to the bundled set's rows by source_row
    np.testing.assert_allclose(written.final_true, load_diabetes().target[written.source_row], rtol=1e-5)
    mae = json.loads((run / "metrics.json").read_text())["test"]["mae_original"]
    assert np.mean(np.abs(written.final - written.final_true)) == pytest.approx(mae, rel=1e-4)
    assert f"final: mae {mae:.4f}" in out

    # New samples of a bundled set are read by the names `load_diabetes(as_frame=True)` gives its
    # columns, as a CSV-trained run's are: never by position.
    frame = load_diabetes(as_frame=True).frame
    frame.to_csv(in_tmp / "ordered.csv", index=False)
    frame[frame.columns[::-1]].to_csv(in_tmp / "reversed.csv", index=False)
    for name in ("ordered", "reversed"):
        assert cli("predict", str(run), "--input", f"{name}.csv", "-o", f"{name}-out.csv")[0] == 0
    ordered, backwards = (pd.read_csv(in_tmp / f"{n}-out.csv") for n in ("ordered", "reversed"))
    pd.testing.assert_frame_equal(ordered, backwards)
    assert np.allclose(ordered.final_true, frame.target)
    frame.drop(columns=["bmi"]).to_csv(in_tmp / "no-bmi.csv", index=False)
    code, _, err = cli("predict", str(run), "--input", "no-bmi.csv")
    assert code == 2 and "no-bmi.csv has no column 'bmi' (training read age, sex, bmi" in err, err
    frame.to_csv(in_tmp / "headless.csv", index=False, header=False)
    code, _, err = cli("predict", str(run), "--input", "headless.csv")
    assert code == 2 and "headless.csv has no header line" in err, err


def test_numeric_labels_beside_an_empty_target_cell_are_scored_as_numbers():
    """A column with an empty cell reads 1 as 1.0: still the label 1, not a miss."""
    from dlcli.predict import _score

    assert _score("ids", np.array([1, 0, 1]), np.array([1.0, np.nan, 0.0])) == ("accuracy", 1, 2)
    assert _score("multihot", np.array([[1, 0], [0, 1]]), np.array([[1.0, 0.0], [np.nan, np.nan]])) == (
        "accuracy",
        2,
        2,
    )
