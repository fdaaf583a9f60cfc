"""Security: what config can make dlcli write, delete, run, print and save.

Every refusal is exit 2 naming the key, before any run directory exists, and
everything outside the run (a sentinel folder, earlier runs) is left as it was.
"""

import io
import os
from pathlib import Path

import pytest

SECRET = "hunter2-not-in-any-file"


def _snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under root's outside/ and work/ with its content (None for folders), and home's file."""
    found = {
        str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None)
        for top in ("outside", "work")
        for p in sorted((root / top).rglob("*"))
    }
    return found | {"home/keep.txt": (root / "home" / "keep.txt").read_bytes()}


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """work/ (the current directory, holding an earlier run of digits_mlp) beside outside/ and home/ ($HOME),
    each with a file."""
    outside, work, home = tmp_path / "outside", tmp_path / "work", tmp_path / "home"
    for folder in (outside, home):
        folder.mkdir()
        (folder / "keep.txt").write_text("keep me\n")
    earlier = work / "outputs" / "digits_mlp" / "2020-01-01_00-00-00"
    earlier.mkdir(parents=True)
    (earlier / "config.yaml").write_text("seed: 1\n")
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(home))  # where `~` leads
    return tmp_path


ESCAPES = [
    ("backup-absolute", ["callbacks=backup", "callbacks.backup.backup_dir={outside}"], "callbacks.backup.backup_dir"),
    ("backup-parent", ["callbacks=backup", "callbacks.backup.backup_dir=.."], "callbacks.backup.backup_dir"),
    ("backup-grandparent", ["callbacks=backup", "callbacks.backup.backup_dir=../.."], "callbacks.backup.backup_dir"),
    ("backup-run-dir-itself", ["callbacks=backup", "callbacks.backup.backup_dir=."], "callbacks.backup.backup_dir"),
    ("backup-home", ["callbacks=backup", "callbacks.backup.backup_dir='~'"], "callbacks.backup.backup_dir"),
    (
        "backup-climbs-inside-out",
        ["+callbacks.b={{class: BackupAndRestore, backup_dir: 'x/../../../../outside'}}"],
        "callbacks.b.backup_dir",
    ),
    (
        "backup-dlcli-checkpoints",
        ["callbacks=backup", "callbacks.backup.backup_dir=checkpoints"],
        "callbacks.backup.backup_dir",
    ),
    (
        "csv-absolute-file",
        ["callbacks=csv_logger", "callbacks.csv_logger.filename={outside}/keep.txt"],
        "callbacks.csv_logger.filename",
    ),
    (
        "csv-climbs-to-file",
        ["callbacks=csv_logger", "callbacks.csv_logger.filename=../../../../outside/keep.txt"],
        "callbacks.csv_logger.filename",
    ),
    (
        "csv-over-dlcli-history",
        ["callbacks=csv_logger", "callbacks.csv_logger.filename=history.csv"],
        "callbacks.csv_logger.filename",
    ),
    (
        "checkpoint-absolute",
        ["callbacks=checkpoint", "callbacks.checkpoint.filepath='{outside}/m-{{epoch:02d}}.keras'"],
        "callbacks.checkpoint.filepath",
    ),
    (
        "tensorboard-absolute",
        ["callbacks=tensorboard", "callbacks.tensorboard.log_dir={outside}"],
        "callbacks.tensorboard.log_dir",
    ),
    (
        "activations-parent",
        ["callbacks=activations", "callbacks.activations.log_dir=../../x"],
        "callbacks.activations.log_dir",
    ),
    (
        "loss-history-home",
        ["callbacks=loss_history", "callbacks.loss_history.filename='~/keep.txt'"],
        "callbacks.loss_history.filename",
    ),
    (
        "checkpoint-template-conversion-climbs",  # '{epoch!s:.0}' formats to '': each '/../' pair becomes a '..'
        ["+callbacks.ck={{class: ModelCheckpoint, filepath: '" + "{{epoch!s:.0}}/../" * 12 + "outside/keep.txt'}}"],
        "callbacks.ck.filepath",
    ),
    (
        "checkpoint-template-fill-slash",  # '{epoch:/<2}' formats to '1/'
        ["+callbacks.ck={{class: ModelCheckpoint, filepath: '" + "{{epoch:/<2}}../" * 6 + "../../outside/x.keras'}}"],
        "callbacks.ck.filepath",
    ),
    (
        "checkpoint-template-onto-dlcli-best",
        ["+callbacks.ck={{class: ModelCheckpoint, filepath: 'x{{epoch!s:.0}}/../checkpoints/best.keras'}}"],
        "callbacks.ck.filepath",
    ),
    ("run-name-parent", ["run.name=../../x"], "run.name"),
    ("run-name-absolute", ["run.name={outside}"], "run.name"),
    ("run-name-empty", ["run.name="], "run.name"),
    ("run-dir-empty", ["run.dir="], "run.dir"),
]


@pytest.mark.parametrize("args, key", [c[1:] for c in ESCAPES], ids=[c[0] for c in ESCAPES])
def test_a_path_outside_the_run_is_refused_before_anything_is_written(cli, sandbox, args, key):
    before = _snapshot(sandbox)
    outside = sandbox / "outside"
    code, _, err = cli("-q", "train", "recipe=digits_mlp", "train.epochs=1", *(a.format(outside=outside) for a in args))
    assert code == 2 and f"error: {key}: " in err, err
    assert _snapshot(sandbox) == before  # nothing outside touched, no run directory made, the earlier run intact


def test_a_callback_file_in_a_subfolder_of_the_run_is_written_there(cli, in_tmp):
    code, out, err = cli("-q", "train", "recipe=digits_mlp", "train.epochs=1", "callbacks=csv_logger",
                         "callbacks.csv_logger.filename=logs/training.csv")  # fmt: skip
    assert code == 0, err
    run_dir = in_tmp / out.strip().splitlines()[-1].removeprefix("run: ")
    assert (run_dir / "logs" / "training.csv").read_text().startswith("epoch")


def test_a_link_that_leads_out_of_the_run_directory_is_refused(tmp_path):
    from dlcli import callbacks as cb
    from dlcli.errors import ConfigError

    run_dir, outside = tmp_path / "run", tmp_path / "outside"
    run_dir.mkdir()
    outside.mkdir()
    (run_dir / "logs").symlink_to(outside)
    with pytest.raises(ConfigError) as caught:
        cb.from_config({"csv": {"class": "CSVLogger", "filename": "logs/x.csv"}}, run_dir)
    (problem,) = caught.value.problems
    assert problem.key == "callbacks.csv.filename" and "link" in problem.message
    made = cb.from_config({"csv": {"class": "CSVLogger", "filename": "own/x.csv"}}, run_dir)
    assert made["csv"].filename == str(run_dir / "own" / "x.csv")


@pytest.mark.parametrize(
    "value, inside",
    [
        ("a/b.csv", True),
        ("a/../b.csv", True),
        ("./a", True),
        ("{epoch:02d}.keras", True),
        ("", False),
        (".", False),
        ("a/..", False),
        ("..", False),
        ("a/../../b", False),
        ("/abs", False),
        ("~/x", False),
        ("~", False),
    ],
)
def test_containment_holds_for_any_root(value, inside):
    from dlcli.safepath import relative_inside

    assert (relative_inside(value) is None) == inside


# --- callbacks config cannot set up -------------------------------------------------------


@pytest.mark.parametrize(
    "spec, message",
    [
        ("{class: LambdaCallback, on_epoch_end: 'print(1)'}", "LambdaCallback takes Python functions"),
        ("{class: RemoteMonitor, root: 'http://example.com'}", "RemoteMonitor sends every epoch's metrics over HTTP"),
        ("{class: CallbackList}", "CallbackList holds other callback objects"),
    ],
)
def test_callbacks_that_need_code_or_the_network_are_refused(cli, sandbox, spec, message):
    before = _snapshot(sandbox)
    code, _, err = cli("-q", "check", "recipe=digits_mlp", f"+callbacks.x={spec}")
    assert code == 2 and f"error: callbacks.x.class: {message}" in " ".join(err.split()), err
    assert _snapshot(sandbox) == before


# --- what is printed ----------------------------------------------------------------------


def test_recipe_that_is_not_a_yaml_mapping_is_refused_without_echoing_it(cli, tmp_path):
    passwd = tmp_path / "passwd"
    passwd.write_text(f"root:x:0:0:root:/root:/bin/bash\nme:{SECRET}:1000\n")
    listing = tmp_path / "list.yaml"
    listing.write_text(f"- {SECRET}\n")
    broken = tmp_path / "broken.yaml"
    broken.write_text(f"a: [1,\n b: {SECRET}: :x:\n")
    binary = tmp_path / "blob.yaml"
    binary.write_bytes(b"\x00\xff\xfe" + SECRET.encode())
    for path, message in [
        (passwd, f"{passwd} is not a recipe: it holds YAML text, not a mapping of config keys"),
        (listing, f"{listing} holds a YAML list, not a mapping of config keys"),
        (broken, f"cannot read {broken}: not valid YAML (line 2"),
        (binary, f"{binary} is not a text file"),
    ]:
        code, out, err = cli("check", f"recipe={path}")
        assert code == 2 and f"error: recipe: {message}" in " ".join(err.split()), err
        assert SECRET not in out + err and "root:x" not in out + err and "❌" not in out + err


def test_user_text_is_never_markup_or_emoji(cli, tmp_path):
    weird = "[bold red]boom[/] :x: :thumbs_up:"
    code, _, err = cli("check", f"recipe={weird}")
    assert code == 2 and weird in err and "❌" not in err and "👍" not in err
    team = tmp_path / "team"
    team.mkdir()
    (team / "fancy.yaml").write_text(f"description: '{weird}'\ndefaults: [{{override /model: digits_mlp}}]\n")
    code, out, _ = cli("recipes", "--config-dir", team)
    assert code == 0 and weird in out


def test_an_unexpected_exception_message_is_not_markup(capsys):
    import typer

    from dlcli.cli._common import user_errors

    with pytest.raises(typer.Exit), user_errors():
        raise RuntimeError("[red]x[/] :x:")
    err = capsys.readouterr().err
    assert "error: RuntimeError: [red]x[/] :x:" in err and "❌" not in err


def test_progress_shows_metric_names_as_they_are():
    from rich.console import Console

    from dlcli.cli.render import RichObserver

    screen = io.StringIO()
    progress = RichObserver(Console(file=screen, width=200, markup=False, emoji=False))
    progress.train_begin(1, 1)
    progress.epoch_begin(1)
    progress.batch_end(1, {"[red]acc:x:": 0.5})
    progress.epoch_end(1, 0.1, {"[red]acc:x:": 0.5})
    progress.train_end()
    assert "[red]acc:x: 0.5000" in screen.getvalue() and "❌" not in screen.getvalue()


# --- secrets and code in run files --------------------------------------------------------


def test_config_yaml_keeps_environment_reads_unresolved(monkeypatch):
    from omegaconf import OmegaConf

    from dlcli.runs.rundir import config_yaml

    monkeypatch.setenv("DLCLI_TEST_TOKEN", SECRET)
    cfg = OmegaConf.create(
        {
            "description": "${oc.env:DLCLI_TEST_TOKEN}",
            "copy": "token=${description}",
            "plain": "${seed}",
            "seed": 3,
            "data": {"path": "data.csv"},
        }
    )
    saved = config_yaml(cfg)
    assert SECRET not in saved
    loaded = OmegaConf.create(saved)
    assert loaded.description == SECRET and loaded["copy"] == f"token={SECRET}"  # read again when loaded
    assert OmegaConf.to_container(loaded)["plain"] == 3  # other interpolations are saved resolved
    assert loaded.data.path == os.path.abspath("data.csv")


@pytest.mark.slow
def test_a_secret_from_the_environment_stays_out_of_the_run_and_the_run_still_reopens(cli, in_tmp, monkeypatch):
    monkeypatch.setenv("DLCLI_TEST_TOKEN", SECRET)
    code, out, err = cli("-q", "train", "recipe=digits_mlp", "--smoke", "description=${oc.env:DLCLI_TEST_TOKEN}")
    assert code == 0, err
    run = in_tmp / out.strip().splitlines()[-1].removeprefix("run: ")
    code, _, err = cli("-q", "evaluate", run)
    assert code == 0, err
    code, _, err = cli("-q", "train", "--resume", run, "train.epochs=2")
    assert code == 0, err
    leaked = [p for p in run.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]
    assert leaked == []
    assert "${oc.env:DLCLI_TEST_TOKEN}" in (run / "config.yaml").read_text()


@pytest.mark.slow
def test_a_model_holding_code_is_refused_by_safe_mode_and_loads_with_trust_code(cli, in_tmp):
    import keras

    code, out, err = cli("-q", "train", "recipe=digits_mlp", "--smoke")
    assert code == 0, err
    run = in_tmp / out.strip().splitlines()[-1].removeprefix("run: ")
    inputs = keras.Input((64,), name="input")
    x = keras.layers.Lambda(lambda t: t * 1.0, name="code")(inputs)
    x = keras.layers.Dense(32, activation="relu", name="dense1")(x)
    x = keras.layers.Dense(32, activation="relu", name="dense2")(x)
    outputs = keras.layers.Dense(10, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs, outputs)
    model.compile(loss="categorical_crossentropy", metrics=["accuracy"])
    model.save(run / "model.keras")
    for command in ("evaluate", "predict", "export"):
        code, _, err = cli("-q", command, run)
        flat = " ".join(err.split())
        assert code == 2 and "holds Python code (a Lambda layer or a lambda function) that Keras' safe mode" in flat
        assert "--trust-code" in flat and "damaged" not in flat
    code, _, err = cli("-q", "evaluate", run, "--trust-code")
    assert code == 0, err
    code, _, err = cli("-q", "predict", run, "--trust-code")
    assert code == 0, err
