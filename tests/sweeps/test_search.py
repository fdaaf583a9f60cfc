"""A small TPE search with a clearly bad region: the median pruner stops a bad trial, whose
run directory stays, marked pruned."""

import json
from pathlib import Path

import numpy as np
import pytest

from tests.sweeps.conftest import FAST, only_sweep, summary

pytestmark = pytest.mark.slow


def test_tpe_search_prunes_the_bad_region(tmp_path, invoke):
    runs_dir = tmp_path / "outputs"
    code, _, stderr = invoke(
        "sweep", "recipe=digits_mlp", "train.epochs=2", *FAST, "seed=10",  # draws 0.03, 0.03, then 1e-7
        "optimizer.learning_rate=choice(0.03,1e-7)",  # 1e-7 learns nothing: val_accuracy stays at chance
        "--search", "tpe", "--trials", "4", "--metric", "val_accuracy", "--runs-dir", runs_dir,
    )  # fmt: skip
    assert code == 0, stderr
    sweep = only_sweep(runs_dir)
    rows = summary(sweep)
    assert len(rows) == 4
    pruned = [r for r in rows if r["state"] == "pruned"]
    assert pruned and all(r["optimizer.learning_rate"] == "1e-07" for r in pruned)
    trial = sweep / "trials" / pruned[0]["trial"]
    assert len((trial / "history.csv").read_text().splitlines()) - 1 < 2  # stopped before its last epoch
    assert (trial / "model.keras").is_file()  # an ordinary, short run
    code, stdout, _ = invoke("runs", "list", "--json", "--runs-dir", runs_dir)
    states = {r["id"].rsplit("/", 1)[1]: r["status"] for r in json.loads(stdout)}
    assert states[pruned[0]["trial"]] == "pruned"
    best = max((r for r in rows if r["state"] == "finished"), key=lambda r: float(r["val_accuracy"]))
    assert best["optimizer.learning_rate"] == "0.03"


def test_trials_compose_from_the_recipe_as_the_sweep_began(tmp_path, monkeypatch):
    """Editing the recipe file while a search runs (or before --resume) changes no trial."""
    from dlcli.drivers import sweep as sweeping

    monkeypatch.chdir(tmp_path)
    recipe = tmp_path / "mine.yaml"
    shipped = (Path(__file__).resolve().parents[2] / "recipes" / "digits_mlp.yaml").read_text()
    recipe.write_text(shipped.replace("epochs: 40", "epochs: 1").replace("batch_size: 32", "batch_size: 16"))
    plan = sweeping.Plan(str(recipe), [*FAST, "optimizer.learning_rate=interval(0.001,0.1)"], trials=2, prune="none")
    sweep = sweeping.create(plan)
    recipe.write_text(recipe.read_text().replace("batch_size: 16", "batch_size: 64"))
    sweeping.run(sweep)
    for n in ("0", "1"):
        assert "batch_size: 16" in (sweep.dir / "trials" / n / "config.yaml").read_text()
    assert (sweep.dir / "recipe" / "mine.yaml").read_text().count("batch_size: 16") == 1


def test_ctrl_c_between_trials_says_how_to_resume(tmp_path, monkeypatch):
    from dlcli.drivers import sweep as sweeping
    from dlcli.errors import Interrupted

    monkeypatch.chdir(tmp_path)
    sweep = sweeping.create(sweeping.Plan("digits_mlp", [*FAST, "optimizer.learning_rate=0.01,0.1"]))

    def stopped(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(sweeping, "run_trial", stopped)
    with pytest.raises(Interrupted) as caught:
        sweeping.run(sweep)
    assert caught.value.problems[-1].hint == f"resume with: dlcli sweep --resume {sweep.dir}"
    assert (sweep.dir / "sweep.yaml").is_file()  # kept: it resumes


def test_resume_with_trials_grows_a_search_budget(tmp_path, invoke):
    runs_dir = tmp_path / "outputs"
    search = ["sweep", "recipe=digits_mlp", "train.epochs=1", *FAST, "train.batch_size=choice(16,32)"]
    assert invoke(*search, "--search", "random", "--trials", "1", "--runs-dir", runs_dir)[0] == 0
    sweep = only_sweep(runs_dir)
    code, _, stderr = invoke("sweep", "--resume", sweep, "--trials", "0")
    assert code == 2 and "--trials is the total budget, not the trials to add" in " ".join(stderr.split())
    code, _, stderr = invoke("sweep", "--resume", sweep, "--trials", "2")
    assert code == 0, stderr
    assert [r["trial"] for r in summary(sweep)] == ["0", "1"]
    assert "trials: 2" in (sweep / "sweep.yaml").read_text()  # a later --resume keeps the new budget
    code, _, stderr = invoke("sweep", "--resume", sweep, "--metric", "loss")
    assert code == 2 and "(--metric given)" in stderr


def test_resume_from_elsewhere_reads_the_recipes_relative_paths_where_the_sweep_began(tmp_path, invoke, monkeypatch):
    """data.path=houses.csv is the file beside the sweep's start; a resume without it costs no trial."""
    rng = np.random.default_rng(0)
    began, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    began.mkdir(), elsewhere.mkdir()
    rows = [f"{a:.3f},{b:.3f},{a + b:.3f}" for a, b in rng.uniform(0, 1, (60, 2))]
    (began / "houses.csv").write_text("rooms,area,price\n" + "\n".join(rows) + "\n")
    data = ["recipe=diabetes_regression", "data=csv", "data.path=houses.csv", "data.target=price"]
    data += ["model.inputs.input.shape=[2]", "train.epochs=1", "optimizer.learning_rate=interval(0.001,0.01)"]
    monkeypatch.chdir(began)
    code, _, stderr = invoke("sweep", *data, "--search", "random", "--trials", "1", "-q")
    assert code == 0, stderr
    sweep = next((began / "outputs").rglob("sweep.yaml")).parent
    monkeypatch.chdir(elsewhere)
    (began / "houses.csv").rename(began / "away.csv")  # as on a machine without the file
    code, _, stderr = invoke("sweep", "--resume", sweep, "--trials", "2", "-q")
    assert code == 2 and "data.path" in stderr
    assert [r["state"] for r in summary(sweep)] == ["finished"]  # the refused trial is not counted
    (began / "away.csv").rename(began / "houses.csv")
    code, _, stderr = invoke("sweep", "--resume", sweep, "--trials", "2", "-q")
    assert code == 0, stderr
    assert [r["state"] for r in summary(sweep)] == ["finished", "finished"]
    assert not (elsewhere / "outputs").exists()


@pytest.mark.parametrize("search", ["random", "tpe"])
def test_a_search_resumed_draws_what_it_would_have_drawn_uninterrupted(tmp_path, monkeypatch, search):
    """Trial n's sampler is seeded with seed + n: an interruption (a fresh process loading the
    study) changes no draw. Drawn here without training: each trial is told a value at once."""
    from dlcli.drivers import sweep as sweeping

    monkeypatch.chdir(tmp_path)
    space = [*FAST, "optimizer.learning_rate=tag(log, interval(1e-4, 1e-1))", "train.batch_size=choice(16,32,64)"]

    def draws(resume_after: int | None) -> list[dict]:
        sweep = sweeping.create(sweeping.Plan("digits_mlp", space, search=search, trials=4))
        study, drawn = sweep.study(), []
        for n in range(4):
            if n == resume_after:
                study = sweeping.find(str(sweep.dir)).study()  # as `dlcli sweep --resume` loads it
            number = sweeping._next(sweep, study)
            trial = next(t for t in study.get_trials() if t.number == number)
            drawn.append(trial.params)
            study.tell(number, sum(trial.params.values()))
        return drawn

    assert draws(None) == draws(2)


def test_the_summary_shows_a_pruned_trials_last_value_and_none_for_a_failed_one():
    import optuna
    from optuna.trial import TrialState

    from dlcli.drivers.sweep import rows

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study()
    for state in (TrialState.PRUNED, TrialState.FAIL):
        trial = study.ask()
        trial.report(0.5, 1)
        study.tell(trial, state=state)
    assert [(r.state, r.value) for r in rows(study)] == [("pruned", 0.5), ("failed", None)]
