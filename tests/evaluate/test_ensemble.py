"""`dlcli ensemble`: one plain Keras model averaging its members, with weights learned on validation."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from dlcli.errors import Interrupted, Problem
from tests.evaluate.conftest import train

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ensembled(cli_package, runs, digits):
    """digits_mlp seeded 42 and 7 on the same split (data.seed), ensembled with learned weights."""
    other = train(cli_package, runs, "recipe=digits_mlp", "data.limit=200", "seed=7", "data.seed=42")
    code, out, err = cli_package("ensemble", digits, other, "--weights", "learn", "--runs-dir", runs)
    assert code == 0, err
    return runs / out.strip().splitlines()[-1].removeprefix("run: ").removeprefix(f"{runs}/"), [digits, other], out


def test_learned_weights_score_no_worse_on_validation_than_the_better_member(ensembled):
    run, members, out = ensembled
    metrics = json.loads((run / "metrics.json").read_text())
    alone = [metrics["members"][str(m.resolve())]["val"]["loss"] for m in members]
    assert metrics["val"]["loss"] <= min(alone) + 1e-6
    weights = json.loads((run / "ensemble.json").read_text())["weights"]["predictions"]
    assert min(weights) >= 0 and sum(weights) == pytest.approx(1)
    assert "member 1" in out and "val loss" in out and "test accuracy" in out


def test_runs_compare_shows_the_ensembles_own_scores_beside_a_member(ensembled, cli):
    run, members, _ = ensembled
    code, out, err = cli("runs", "compare", members[0], run, "--json")
    assert code == 0, err
    metrics = json.loads(out)["metrics"]
    assert metrics["val.loss"][1] == json.loads((run / "metrics.json").read_text())["val"]["loss"]
    assert not any(key.startswith("members.") for key in metrics)  # the member's scores are in its own column


def test_an_ensemble_is_not_resumed_as_if_trained(ensembled, cli):
    run, _, _ = ensembled
    code, _, err = cli("train", "--resume", run)
    assert code == 2 and "is an ensemble" in err


def test_the_ensemble_reloads_in_a_fresh_process_as_the_weighted_average(ensembled, cli, tmp_path):
    import keras

    run, members, _ = ensembled
    weights = json.loads((run / "ensemble.json").read_text())["weights"]["predictions"]
    x = np.random.default_rng(0).uniform(0, 1, (16, 64)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    script = (  # no dlcli import: a plain Keras model, loaded in safe mode
        "import sys, numpy as np, keras; x = np.load(sys.argv[1]);"
        "print(keras.saving.load_model(sys.argv[2]).predict(x, verbose=0).tolist())"
    )
    command = [sys.executable, "-c", script, str(tmp_path / "x.npy"), str(run / "model.keras")]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "KERAS_BACKEND": "jax"})
    assert done.returncode == 0, done.stderr
    alone = [keras.saving.load_model(m / "model.keras").predict(x, verbose=0) for m in members]
    expected = weights[0] * alone[0] + weights[1] * alone[1]
    np.testing.assert_allclose(np.array(json.loads(done.stdout)), expected, atol=1e-6)

    code, out, err = cli("export", run, "--format", "onnx", "-o", tmp_path / "ensemble.onnx")
    assert code == 0, err  # written only when onnxruntime's predictions match Keras'
    assert "parity" in out and (tmp_path / "ensemble.onnx").is_file()


def test_members_must_share_inputs_and_outputs(cli, runs, digits, breast_cancer):
    code, _, err = cli("ensemble", digits, breast_cancer, "--runs-dir", runs)
    err = " ".join(err.split())
    assert code == 2 and "input 'input' has shape [64]" in err and "[30]" in err and "outputs differ" in err
    code, _, err = cli("ensemble", digits, breast_cancer, "--weights", "0.7,0.4", "--runs-dir", runs)
    assert code == 2 and "summing to 1" in err
    code, _, err = cli("ensemble", digits, digits, "--runs-dir", runs)
    assert code == 2 and "more than once" in err


def test_ensemble_weights_must_be_numbers_summing_to_one():
    from dlcli.drivers.ensemble import parse_weights
    from dlcli.errors import ConfigError

    assert parse_weights("0.25,0.75", 2) == [0.25, 0.75]
    assert parse_weights("0.3333,0.3333,0.3333", 3) == pytest.approx([1 / 3] * 3)  # thirds as people write them
    with pytest.raises(ConfigError, match="the negative weight -0.2"):
        parse_weights("1.2,-0.2", 2)
    for bad in ("nan,nan", "0.7,0.4", "inf,-inf", "1", "a,b"):
        with pytest.raises(ConfigError):
            parse_weights(bad, 2)
    for n in range(2, 12):  # the hint's example is accepted
        with pytest.raises(ConfigError) as refused:
            parse_weights("0.5", n)
        assert len(parse_weights(refused.value.problems[0].hint.split()[-1], n)) == n


def test_fold_models_mixed_with_a_run_split_otherwise_get_both_notes():
    from types import SimpleNamespace

    from omegaconf import OmegaConf

    from dlcli.drivers.ensemble import _split_notes

    def member(seed):
        return SimpleNamespace(cfg=OmegaConf.create({"seed": seed, "data": {"seed": None, "limit": 200}}))

    assert len(_split_notes([member(42), member(42)], folds=True)) == 1  # the folds of one run
    notes = _split_notes([member(42), member(42), member(5)], folds=True)
    assert len(notes) == 2 and "K-fold models" in notes[0] and "split differently" in notes[1]


def _cut_at_member_2(monkeypatch, tmp_path, ctrl_c):
    """train.ensemble=3 whose member 2 is cut short: `ctrl_c` is what it raises. Each member's run
    holds its config as a run's does, so the commands of the hint can be composed from them."""
    from dlcli import lifecycle
    from dlcli.drivers import ensemble

    monkeypatch.chdir(tmp_path)
    trained = []

    def cut(member, observer):
        trained.append(member.cfg.seed)
        run_dir = tmp_path / f"seed-{member.cfg.seed}"
        stop = ctrl_c(run_dir) if len(trained) == 2 else None
        if not isinstance(stop, KeyboardInterrupt):  # a run was made
            run_dir.mkdir()
            lifecycle.write_config(run_dir, member.composed)
        if stop is not None:
            raise stop
        return lifecycle.Result(run_dir, {"val": {"loss": 2.0}, "test": {"loss": 2.0}})

    monkeypatch.setattr(ensemble.single, "run", cut)
    prepared = lifecycle.prepare("digits_mlp", ["train.ensemble=3", "seed=7", "data.limit=100"])
    with pytest.raises(Interrupted) as caught:
        ensemble.run(prepared)
    assert trained == [7, 8]
    return prepared, caught.value.problems[-1]


def _composes_member(prepared, command, index):
    """`dlcli train recipe=RUN/config.yaml seed=S run.name=...` composes member `index` of `prepared`."""
    from omegaconf import OmegaConf

    from dlcli import lifecycle
    from dlcli.drivers.ensemble import _member

    words = command.split()
    assert words[:2] == ["dlcli", "train"], command
    made = OmegaConf.to_container(lifecycle.prepare(words[2].removeprefix("recipe="), words[3:]).cfg, resolve=True)
    meant = OmegaConf.to_container(_member(prepared, index).cfg, resolve=True)
    assert made.pop("run") != meant.pop("run") and made == meant  # only where it goes differs


def test_an_ensemble_cut_short_says_what_finishes_it(tmp_path, monkeypatch):
    """Member 2 interrupted in training: its resume hint also gives the commands that train the member still
    to train and combine all three with the weights the uninterrupted run would have used (learned: val)."""
    first, second = tmp_path / "seed-7", tmp_path / "seed-8"

    def interrupted(run_dir):
        return Interrupted(Problem("", "interrupted", f"resume with: dlcli train --resume {run_dir}"), run_dir)

    prepared, problem = _cut_at_member_2(monkeypatch, tmp_path, interrupted)
    resume, _, rest = problem.hint.partition("; then, to finish the ensemble: ")
    train, combine = rest.split(", then ")
    assert resume == f"resume with: dlcli train --resume {second}"
    assert train == f"dlcli train recipe={first}/config.yaml seed=9 run.name=digits_mlp-seed-9"
    assert combine == (
        f"dlcli ensemble {first} {second} digits_mlp-seed-9/latest --weights learn --name digits_mlp-ensemble"
    )
    _composes_member(prepared, train, 2)


def test_an_ensemble_cut_short_before_a_members_run_existed_trains_it_anew(tmp_path, monkeypatch):
    """Ctrl-C while member 2's model was built (a plain KeyboardInterrupt, no run of its own yet)."""
    first = tmp_path / "seed-7"
    prepared, problem = _cut_at_member_2(monkeypatch, tmp_path, lambda run_dir: KeyboardInterrupt())
    assert problem.message == "interrupted before member 2/3 (seed 8) trained"
    *train, combine = problem.hint.removeprefix("to finish: ").split(", then ")
    assert train == [f"dlcli train recipe={first}/config.yaml seed={s} run.name=digits_mlp-seed-{s}" for s in (8, 9)]
    assert combine == (
        f"dlcli ensemble {first} digits_mlp-seed-8/latest digits_mlp-seed-9/latest --weights learn"
        " --name digits_mlp-ensemble"
    )
    _composes_member(prepared, train[0], 1)


def test_members_with_other_labels_or_scalers_say_which():
    from types import SimpleNamespace

    from omegaconf import OmegaConf

    from dlcli.drivers.ensemble import _preprocessing_differs

    def member(path, classes, mean=0.0, scaler="standard"):
        cfg = OmegaConf.create({"data": {"preprocess": {"scaler": scaler}}})
        state = {"x": {"input": {"mean": [mean]}}, "y": {}, "classes": {"label": classes}}
        return SimpleNamespace(path=path, cfg=cfg, preprocess={"state": state})

    cats, upper = member("a", ["cat", "dog"]), member("b", ["Cat", "Dog"])
    assert _preprocessing_differs(cats, upper) == [
        "output 'label' has the class labels ['cat', 'dog'] in a but ['Cat', 'Dog'] in b"
    ]
    (scalers,) = _preprocessing_differs(cats, member("c", ["cat", "dog"], mean=1.0))
    assert scalers.startswith("the scalers fitted in c differ from a's")
    (config,) = _preprocessing_differs(cats, member("d", ["x"], scaler="minmax"))
    assert config.startswith("data.preprocess differs") and "minmax" in config
    assert _preprocessing_differs(cats, member("e", ["cat", "dog"])) == []
