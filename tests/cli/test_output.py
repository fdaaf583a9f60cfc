"""What the CLI says around a run: notes once, what --quiet keeps, where sweep options belong."""

import io

import pytest
from rich.console import Console


@pytest.mark.parametrize("quiet", [True, False])
def test_a_note_the_folds_repeat_is_said_once(quiet):
    from dlcli.cli.render import QuietObserver, RichObserver

    screen = io.StringIO()
    console = Console(file=screen, width=200, markup=False, emoji=False)
    observer = QuietObserver(console) if quiet else RichObserver(console)
    given = "train.kfold: the 50 validation samples given join the training samples the folds are cut from"
    for _ in range(3):  # once per fold
        observer.note(given)
    observer.note("another [b]note[/b]")
    assert screen.getvalue().count(given) == 1 and "another [b]note[/b]" in screen.getvalue()


@pytest.mark.parametrize("args", [["-m", "train.batch_size=16,32", "--metric", "val_loss"], ["--trials=3"]])
def test_sweep_options_given_to_train_say_they_are_dlcli_sweeps(cli, in_tmp, args):
    code, _, err = cli("train", "recipe=digits_mlp", *args)
    said = " ".join(err.split())
    assert code == 2 and "error: train: --search, --trials, --metric" in said and "options of dlcli sweep" in said
    assert "dlcli sweep recipe=NAME" in said and not (in_tmp / "outputs").exists()


def test_quiet_says_what_still_prints(cli):
    code, out, _ = cli("--help")
    said = " ".join(out.replace("│", " ").split())  # (Rich's help box)
    assert code == 0 and "results (metrics table, run path), notes and errors still print" in said


@pytest.mark.parametrize("relative", ["summary.csv", "sweep.yaml", "study.journal", "trials/3.json", "plots/x.png"])
def test_a_sweeps_own_files_are_never_an_output(tmp_path, relative):
    """predict -o SWEEP/summary.csv --force would replace what --resume and `runs compare` read."""
    from dlcli.cli._common import refuse_to_replace
    from dlcli.errors import ConfigError

    sweep = tmp_path / "digits_mlp" / "sweeps" / "2026-12-01_10-00-00"
    (sweep / "trials" / "3").mkdir(parents=True)
    (sweep / "sweep.yaml").write_text("search: grid\n")
    target = sweep / relative
    with pytest.raises(ConfigError, match="dlcli's own file of the sweep .* even with --force"):
        refuse_to_replace(target, force=True)
    assert refuse_to_replace(sweep / "mine" / "preds.csv", force=True) == sweep / "mine" / "preds.csv"
    assert refuse_to_replace(sweep / "trials" / "3" / "mine.csv", force=True) is not None  # inside a trial's run


def test_an_optuna_journal_named_anywhere_is_never_an_output(in_tmp, cli):
    """sweep --storage shared/st.csv keeps the study outside any sweep folder: predict -o shared/st.csv
    --force would replace it, and the next sweep --resume could not read it."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    journal = in_tmp / "shared" / "st.csv"
    journal.parent.mkdir()
    optuna.create_study(storage=JournalStorage(JournalFileBackend(str(journal))), study_name="s")
    before = journal.read_bytes()
    code, _, err = cli("predict", in_tmp / "no-run", "--output", journal, "--force")  # checked before the run
    said = " ".join(err.split())
    assert code == 2 and f"--output: {journal} is an Optuna journal file" in said and "even with --force" in said
    assert journal.read_bytes() == before
    (in_tmp / "mine.csv").write_text('{"op": 1}\n')  # JSON, but no journal entry: --force replaces it
    from dlcli.cli._common import refuse_to_replace

    assert refuse_to_replace(in_tmp / "mine.csv", force=True) == in_tmp / "mine.csv"
