"""Mistakes in a sweep are exit 2 before any trial trains, and leave no sweep behind."""

import importlib.util

import pytest

BASE = ["recipe=digits_mlp", "train.epochs=1", "data.limit=200"]


@pytest.mark.parametrize(
    "args, said",
    [
        (["train", "-m", *BASE, "optimizer.learning_rate=1e-3,-1"], "combination 2 of 2 is refused"),
        (["train", "-m", *BASE, "train.batch_sise=16,32"], "train.batch_sise"),
        (["train", "-m", *BASE, "optimizer.learning_rate=interval(1e-4,1e-1)"], "--search tpe"),
        (["sweep", *BASE, "train.batch_size=16,32", "--trials", "3"], "--trials is the budget of a search"),
        (["sweep", *BASE, "train.batch_size=16,32", "--search", "bayes"], "unknown search 'bayes'"),
        (["sweep", *BASE, "train.batch_size=int(interval(64,8))", "--search", "tpe"], "is empty"),
        (["train", "-m", "--smoke", *BASE, "train.batch_size=16,32"], "-m makes one per combination"),
        (["sweep", *BASE, "optimizer.learning_rate=tag(lg, interval(1e-3,1e-2))", "--trials", "1"], "unknown tag 'lg'"),
        (["train", "-m", "recipe=digits_mlp,iris", "train.epochs=1,2"], "sweeps the recipe"),
        (["sweep", *BASE, "train.batch_size=16,32", "--storage", "notes.txt"], "notes.txt exists and is not an Optuna"),
        (["sweep", "--join", "notes.txt"], "notes.txt is not an Optuna journal file"),
        (
            ["sweep", *BASE, "train.steps_per_execution=1,4", "callbacks=loss_history"],
            "callbacks.loss_history reads every batch",  # a grid's combinations meet the callbacks before trial 0
        ),
        (
            ["sweep", *BASE, "model.nodes.dense1.units=interval(8,64)", "--trials", "2"],
            "model.nodes.dense1.units=int(interval(8,64))",  # a float interval on a layer's integer argument
        ),
        (["sweep", "--join", "no.journal"], "no sweep or study at 'no.journal'"),
        (["sweep", "--join", "sqlite:///no.db"], "no sweep or study at 'sqlite:///no.db'"),
        (
            ["sweep", *BASE, "optimizer.learning_rate=0.01,0.1", "--metric", "val_acuracy"],
            "did you mean 'val_accuracy'",
        ),
        (
            ["sweep", *BASE, "train.batch_size=16,32", "--metric", "val_acuracy", "--jobs", "2"],
            "did you mean 'val_accuracy'",  # the hint comes up from the worker process too
        ),
        (
            ["sweep", *BASE, "train.batch_size=16,32", "--metric", "test_acc"],
            "did you mean 'test_accuracy'",
        ),
        (
            ["sweep", *BASE, "data.val_split=0", "callbacks=early_stopping", "train.batch_size=16,32"],
            "callbacks.early_stopping.monitor: 'val_loss' needs a validation split",  # the default metric's source
        ),
        (
            ["sweep", *BASE, "data.val_split=0", "train.batch_size=16,32", "--metric", "val_accuracy"],
            "needs a validation split",
        ),
        (
            ["sweep", *BASE, "data.test_split=0", "train.batch_size=16,32", "--metric", "test_accuracy"],
            "'test_accuracy' needs a test split scored at the end, and the runs have none",
        ),
        (
            [
                "sweep",
                *BASE,
                "train.batch_size=16,32",
                "distribution=data_parallel",
                "distribution.num_processes=2",
                "distribution.process_id=0",
                "distribution.coordinator=localhost:1",
            ],
            "distribution.num_processes: a sweep trains each trial in one process",  # (it waited for the others)
        ),
        (
            ["sweep", *BASE, "data.val_split=0,0.2"],  # ranked on the training loss before
            "--metric: the configurations are ranked on different metrics by default: loss for data.val_split=0,"
            " val_loss for data.val_split=0.2",
        ),
        (
            ["sweep", *BASE, "train.batch_size=int(interval(1.5,4.5))", "--trials", "1"],
            "int(interval(1.5,4.5)) would search 1 to 4: int() cuts each end down",
        ),
        (["sweep", *BASE, "optimizer.learning_rate=tag(log,choice(0.1,0.01))"], "tags apply to interval(a, b) only"),
        (["sweep", *BASE, "train.epochs=int(interval(3,4))", "--trials", "1"], "is given one value and swept too"),
        (["sweep", *BASE, "run.name=a,b"], "run.name: says where the sweep goes"),
        (["sweep", *BASE, "optimizer.learning_rate=shuffle(0.1,0.01)"], "a sweep runs its grid in Hydra's order"),
        (["sweep", *BASE, "train.batch_size=range(0,10,0)"], "range() arg 3 must not be zero"),
        (  # found at the first batch, not once the first trial has trained
            ["sweep", *BASE, "train.batch_size=16,32", "--metric", "test_loss", "train.evaluate_test=false"],
            "'test_loss' needs a test split scored at the end, and the runs have none",
        ),
        (["sweep", "--resume", "latest", "--join", "latest"], "--resume and --join each continue a sweep: give one"),
    ],
    ids=[
        "bad-value",
        "unknown-key",
        "interval-in-grid",
        "trials-with-grid",
        "unknown-search",
        "empty-interval",
        "smoke",
        "misspelt-tag",
        "swept-recipe",
        "storage-not-a-journal",
        "join-not-a-journal",
        "steps-per-execution-with-a-batch-callback",
        "float-interval-on-units",
        "join-nothing",
        "join-no-sqlite-file",
        "misspelt-metric",
        "misspelt-metric-in-workers",
        "misspelt-test-metric",
        "default-metric-without-val",
        "metric-without-val",
        "metric-without-test",
        "several-processes",
        "default-metric-differs",
        "int-of-fractions",
        "tag-on-choice",
        "fixed-and-swept",
        "swept-run-name",
        "shuffle",
        "range-step-zero",
        "test-metric-not-scored",
        "resume-and-join",
    ],
)
def test_refused_before_any_trial(cli, in_tmp, args, said):
    (in_tmp / "notes.txt").write_text("keep\n")
    code, _, stderr = cli(*args)
    assert code == 2, stderr
    assert said in " ".join(stderr.split())
    assert not (in_tmp / "outputs").exists()  # (a wrong --metric is found on the first trial's first batch)
    assert not (in_tmp / "no.journal").exists() and not (in_tmp / "no.db").exists()  # opening one would create it
    assert (in_tmp / "notes.txt").read_text() == "keep\n"  # a file that is not a journal is never appended to


def test_a_descending_range_is_searched_as_its_values():
    from dlcli.drivers.space import parse

    (dim,) = parse(["train.batch_size=range(64,16,-16)"], []).dims
    assert dim.values == [64, 48, 32]
    assert set(dim.distribution().to_internal_repr(v) for v in (32, 48, 64)) == {32, 48, 64}
    assert (dim.distribution().low, dim.distribution().high, dim.distribution().step) == (32, 64, 16)


@pytest.mark.parametrize(
    "url, said",
    [
        ("postgresql://me@localhost/db", "--storage: no database driver for postgresql://me@localhost/db"),
        (
            "sqlite:////no/such/folder/study.db",
            "--storage: cannot open the database sqlite:////no/such/folder/study.db",
        ),
        ("nosuchdb://me@host/db", "--storage: cannot open the database nosuchdb://me@host/db"),
        (
            "nosuchdb://host/db?user=me&api_key=secret",
            "--storage: cannot open the database nosuchdb://host/db?api_key=***&user=me",
        ),
        (  # a file libpq reads the password from is what a URL should name instead
            "nosuchdb://me@host/db?passfile=/home/me/.pgpass",
            "--storage: cannot open the database nosuchdb://me@host/db?passfile=***",
        ),
    ],
    ids=["driver-missing", "sqlite-folder-missing", "unknown-dialect", "key-in-query", "passfile"],
)
def test_a_database_that_cannot_be_opened_is_refused_naming_storage(cli, in_tmp, url, said):
    if url.startswith("postgresql") and importlib.util.find_spec("psycopg") is not None:
        pytest.skip("psycopg is installed here")
    code, _, stderr = cli("sweep", *BASE, "train.batch_size=16,32", "--storage", url)
    assert code == 2 and said in stderr and "secret" not in stderr and "Traceback" not in stderr
    assert not (in_tmp / "outputs").exists()
    code, _, stderr = cli("sweep", "--join", url)
    assert code == 2 and "error: --join:" in stderr and "secret" not in stderr


@pytest.mark.parametrize(
    "url, shown",
    [
        ("postgresql://me:secret@localhost/db", "postgresql://me:***@localhost/db"),
        ("mysql+pymysql://me@host/db?passwd=secret", "mysql+pymysql://me@host/db?passwd=***"),
        ("mysql+pymysql://me@host/db?PWD=secret", "mysql+pymysql://me@host/db?PWD=***"),
    ],
    ids=["in-user-part", "in-query", "pwd"],
)
def test_a_database_url_with_a_password_is_refused_before_it_is_written_anywhere(cli, in_tmp, url, shown):
    """sweep.yaml keeps the URL (--resume and every worker read it there): no password may be in it.
    Refused before the driver is imported or the database is reached (neither is here)."""
    for args in (["sweep", *BASE, "train.batch_size=16,32", "--storage", url], ["sweep", "--join", url]):
        code, _, stderr = cli(*args)
        said = " ".join(stderr.split())
        assert code == 2 and f"{shown} holds a password, which would be written to sweep.yaml" in said
        assert "~/.pgpass or PGPASSWORD" in said and "read_default_file" in said and "secret" not in said
        assert not (in_tmp / "outputs").exists()


def test_a_refused_first_trial_removes_the_sweep_and_its_study_from_a_named_storage(cli, in_tmp):
    import optuna

    journal = in_tmp / "shared.journal"
    code, _, stderr = cli("sweep", *BASE, "train.batch_size=16,32", "--storage", journal, "--metric", "val_acuracy")
    assert code == 2 and "did you mean 'val_accuracy'" in stderr
    assert not (in_tmp / "outputs").exists()
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    assert optuna.get_all_study_summaries(storage) == []


@pytest.mark.parametrize(
    "metric, maximized",
    [
        ("val_accuracy", True),
        ("val_specificity_at_sensitivity", True),
        ("precision_at_recall", True),
        ("val_mean_io_u", True),
        ("cosine_similarity", True),
        ("val_fbeta_score", True),
        ("val_pearson_correlation", True),
        ("true_positives", True),
        ("val_false_negatives", False),
        ("val_loss", False),
        ("mean_absolute_error", False),
        ("val_kl_divergence", False),
    ],
)
def test_the_default_direction_follows_the_metric(metric, maximized):
    from dlcli.drivers.sweep import _maximized

    assert _maximized(metric) is maximized


def test_an_sqlite_file_of_other_tables_is_no_storage_and_is_left_as_it_was(cli, in_tmp):
    import sqlite3

    import optuna

    from dlcli.drivers.sweep import _shared

    with sqlite3.connect(in_tmp / "data.db") as db:
        db.execute("create table people (name text)")
    before = (in_tmp / "data.db").read_bytes()
    code, _, stderr = cli("sweep", *BASE, "train.batch_size=16,32", "--storage", "sqlite:///data.db")
    said = " ".join(stderr.split())
    assert code == 2 and "sqlite:///data.db holds other tables (people) and no Optuna study" in said
    assert (in_tmp / "data.db").read_bytes() == before and not (in_tmp / "outputs").exists()
    optuna.create_study(storage=f"sqlite:///{in_tmp / 'studies.db'}")  # a database Optuna made is shared
    assert _shared(f"sqlite:///{in_tmp / 'studies.db'}") == f"sqlite:///{in_tmp / 'studies.db'}"
