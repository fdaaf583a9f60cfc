"""Issue 11, bad config input: one table of what users get wrong, through the real CLI.

Each row: the arguments, the exit code (2: usage or config error), the key (or file) the
message names, and fragments it must hold. Every row also asserts: no traceback, and no
run directory left behind. `{run}` stands for a finished run (trained once, on first use);
recipe files named in FILES are written into the working directory first.
"""

import subprocess
import sys
import time

import pytest

from tests.callbacks.training import train_in

# Recipe files and --config-dir trees the rows below name (bytes: written as they are).
FILES = {
    "empty.yaml": b"",
    "junk.yaml": bytes(range(256)) * 2,
    "latin1.yaml": "description: caf\xe9\n".encode("latin-1"),
    "syntax.yaml": b"a: [1, 2\nb: 3\n",
    "listed.yaml": b"- a\n- b\n",
    "text.yaml": b"just some words\n",
    "relative_default.yaml": b"defaults:\n  - model: digits_mlp\n",
    "defaults_scalar.yaml": b"defaults: 3\n",
    "bare_default.yaml": b"defaults:\n  - nope\n",
    "missing_option.yaml": b"defaults:\n  - override /model: digits_mlpp\n",
    "chosen_twice.yaml": b"defaults:\n  - /model: digits_mlp\n  - override /data: digits\n",
    "unknown_key.yaml": b"defaults:\n  - override /model: digits_mlp\n  - override /data: digits\ntrian:\n  epochs: 3\n",
    "wrong_type.yaml": b"defaults:\n  - override /model: digits_mlp\n  - override /data: digits\ntrain:\n  epochs: abc\n",
    "interpolation.yaml": (
        b"defaults:\n  - override /model: digits_mlp\n  - override /data: digits\ntrain:\n  epochs: ${nope}\n"
    ),
    "a_directory.yaml/keep": b"",
    "conf_latin1/recipes/mine.yaml": "description: caf\xe9\n".encode("latin-1"),
    "conf_file": b"not a directory\n",
}

D = "recipe=digits_mlp"
SCHEDULE_TO_ZERO = "+callbacks.lr_schedule.schedule='0.001 - epoch * 1e-9'"

# (id, args, exit code, key named ('' for none), fragments of the message)
ROWS = [
    # --- interpolations ---------------------------------------------------------------------
    ("interp-missing", ["show", D, "train.epochs=${nope}"], 2, "train.epochs", ["'nope', which is not a key"]),
    ("interp-typo", ["show", D, "train.epochs=${train.epoch}"], 2, "train.epochs", ["did you mean 'train.epochs'"]),
    ("interp-self", ["show", D, "train.epochs=${train.epochs}"], 2, "train.epochs", ["refers to itself"]),
    ("interp-resolver", ["show", D, "train.epochs=${python_eval:1}"], 2, "train.epochs", ["'python_eval'"]),
    ("interp-env", ["show", D, "train.epochs=${oc.env:DLCLI_SURELY_UNSET}"], 2, "train.epochs", ["not set"]),
    ("interp-type", ["show", D, "train.epochs=${data.source}"], 2, "train.epochs", ["expected an integer"]),
    ("interp-train", ["train", D, "train.epochs=${nope}"], 2, "train.epochs", ["set on the command line"]),
    ("interp-smoke", ["train", "--smoke", D, "train.epochs=${nope}"], 2, "train.epochs", ["not a key"]),
    ("interp-check", ["check", D, "seed=${nope}"], 2, "seed", ["not a key"]),
    ("interp-in-recipe", ["show", "recipe=interpolation.yaml"], 2, "train.epochs", ["interpolation.yaml"]),
    # --- Keras arguments that only fail, or mislead, once training runs -----------------------
    (
        "logits-on-softmax",
        ["check", D, "model.outputs.predictions.loss={class: CategoricalCrossentropy, from_logits: true}"],
        2,
        "model.outputs.predictions.loss",
        ["from_logits: true", "softmax makes probabilities"],
    ),
    (
        "schedule-range",
        [
            "check",
            D,
            "optimizer.learning_rate={class: ExponentialDecay, initial_learning_rate: 0.01, decay_steps: 0,"
            " decay_rate: 0.9}",
        ],
        2,
        "optimizer.learning_rate",
        ["decay_steps"],
    ),  # fmt: skip
    (
        "optimizer-clipnorm-text",
        ["train", D, "+optimizer.options.clipnorm=abc"],
        2,
        "optimizer.options.clipnorm",
        ["expected a number, got 'abc'"],
    ),  # fmt: skip
    # --- override grammar -------------------------------------------------------------------
    ("unclosed-list", ["show", D, "train.epochs=[1,2"], 2, "overrides", ["'train.epochs=[1,2'", "close the []"]),
    ("unclosed-mapping", ["show", D, "train={epochs: 1"], 2, "overrides", ["close the {}"]),
    ("unclosed-quote", ["show", D, "train.epochs='3"], 2, "overrides", ["train.epochs='3", "close the ' quote"]),
    ("double-dot", ["show", D, "train..epochs=3"], 2, "overrides", ["'train..epochs=3'"]),
    ("stray-paren", ["show", D, "train.epochs=1)"], 2, "overrides", ["'train.epochs=1)'"]),
    ("no-key", ["show", D, "=3"], 2, "overrides", ["'=3' names no key"]),
    ("no-equals", ["check", D, "train.epochs"], 2, "overrides", ["'train.epochs'"]),
    ("sweep", ["train", D, "train.epochs=1,2"], 2, "train.epochs", ["sweep"]),
    ("group-given-number", ["show", D, "train=3"], 2, "train", ["config group", "train=NAME"]),
    ("group-given-null", ["show", D, "model=null"], 2, "model", ["config group"]),
    # --- the recipe argument and recipe files -----------------------------------------------
    ("recipe-twice", ["train", D, "recipe=mnist"], 2, "recipe", ["given twice"]),
    ("recipe-added", ["show", D, "+recipe=mnist"], 2, "recipe", ["recipe=NAME"]),
    ("recipe-deleted", ["show", D, "~recipe"], 2, "recipe", ["recipe=NAME"]),
    ("recipe-empty-name", ["show", "recipe="], 2, "recipe", ["no recipe given"]),
    ("recipe-none", ["check"], 2, "recipe", ["no recipe given"]),
    ("recipe-unknown", ["train", "recipe=digits_mpl"], 2, "recipe", ["did you mean 'digits_mlp'"]),
    ("recipe-no-file", ["show", "recipe=nothere.yaml"], 2, "recipe", ["no recipe file 'nothere.yaml'"]),
    ("recipe-directory", ["show", "recipe=a_directory.yaml"], 2, "recipe", ["is a directory"]),
    ("recipe-empty-file", ["show", "recipe=empty.yaml"], 2, "model", ["no model defined"]),
    ("recipe-binary", ["show", "recipe=junk.yaml"], 2, "recipe", ["junk.yaml is not a text file"]),
    ("recipe-latin1", ["train", "recipe=latin1.yaml"], 2, "recipe", ["latin1.yaml is not a text file", "UTF-8"]),
    ("recipe-yaml-syntax", ["show", "recipe=syntax.yaml"], 2, "recipe", ["not valid YAML (line 2"]),
    ("recipe-yaml-list", ["show", "recipe=listed.yaml"], 2, "recipe", ["holds a YAML list"]),
    ("recipe-yaml-text", ["show", "recipe=text.yaml"], 2, "recipe", ["not a mapping of config keys"]),
    ("defaults-relative", ["show", "recipe=relative_default.yaml"], 2, "defaults", ["- override /model: digits_mlp"]),
    ("defaults-not-list", ["show", "recipe=defaults_scalar.yaml"], 2, "defaults", ["is not a list"]),
    ("defaults-bare-entry", ["show", "recipe=bare_default.yaml"], 2, "defaults", ["'nope'", "bare_default.yaml"]),
    ("defaults-missing-option", ["show", "recipe=missing_option.yaml"], 2, "model", ["did you mean 'digits_mlp'"]),
    ("defaults-chosen-twice", ["show", "recipe=chosen_twice.yaml"], 2, "defaults", ["override /model: digits_mlp"]),
    ("recipe-unknown-key", ["show", "recipe=unknown_key.yaml"], 2, "trian", ["did you mean 'train'"]),
    ("recipe-wrong-type", ["show", "recipe=wrong_type.yaml"], 2, "train.epochs", ["expected an integer", "(in "]),
    ("config-dir-is-file", ["show", D, "--config-dir", "conf_file"], 2, "--config-dir", ["is not a directory"]),
    ("config-dir-latin1", ["show", "recipe=mine", "--config-dir", "conf_latin1"], 2, "recipe", ["not a text file"]),
    # --- wrong types ------------------------------------------------------------------------
    ("int-word", ["train", D, "train.epochs=abc"], 2, "train.epochs", ["expected an integer, got 'abc'"]),
    ("int-exponent", ["show", D, "train.epochs=1e3"], 2, "train.epochs", ["expected an integer"]),
    ("int-bool", ["show", D, "train.epochs=true"], 2, "train.epochs", ["expected an integer"]),
    ("int-float", ["show", D, "train.batch_size=3.5"], 2, "train.batch_size", ["expected an integer"]),
    ("int-empty", ["show", D, "train.epochs="], 2, "train.epochs", ["expected an integer, got ''"]),
    ("int-list", ["show", D, "train.epochs=[1,2]"], 2, "train.epochs", ["expected an integer"]),
    ("int-null", ["show", D, "train.epochs=null"], 2, "train.epochs", ["must not be null", "default is 10"]),
    ("float-word", ["show", D, "data.val_split=abc"], 2, "data.val_split", ["expected a number"]),
    ("float-null", ["show", D, "data.test_split=null"], 2, "data.test_split", ["must not be null"]),
    ("bool-word", ["show", D, "train.shuffle=maybe"], 2, "train.shuffle", ["expected true or false, got 'maybe'"]),
    ("bool-null", ["show", D, "train.evaluate_test=null"], 2, "train.evaluate_test", ["must not be null"]),
    ("string-null", ["show", D, "description=null"], 2, "description", ["must not be null"]),
    ("enum-typo", ["show", D, "data.preprocess.scaler=stdandard"], 2, "data.preprocess.scaler", ["'standard'"]),
    ("enum-typo-2", ["show", D, "data.preprocess.labels=onehot"], 2, "data.preprocess.labels", ["'one_hot'"]),
    ("enum-null", ["show", D, "data.preprocess.padding=null"], 2, "data.preprocess.padding", ["must not be null"]),
    ("list-scalar", ["show", D, "data.preprocess.reshape=abc"], 2, "data.preprocess.reshape", ["expected a list"]),
    ("list-items", ["show", D, "data.preprocess.reshape=[a,b]"], 2, "data.preprocess.reshape[0]", ["command line"]),
    ("list-plugins", ["show", D, "plugins=abc"], 2, "plugins", ["expected a list"]),
    ("mapping-list", ["show", D, "optimizer.options=[1]"], 2, "optimizer.options", ["expected a mapping"]),
    ("mapping-scalar", ["show", D, "data.options=3"], 2, "data.options", ["expected a mapping"]),
    ("lr-word", ["show", D, "optimizer.learning_rate=fast"], 2, "optimizer.learning_rate", ["expected a number"]),
    ("lr-null", ["show", D, "optimizer.learning_rate=null"], 2, "optimizer.learning_rate", ["expected a number"]),
    ("optimizer-empty", ["show", D, "optimizer.name="], 2, "optimizer.name", ["is empty"]),
    ("optimizer-null", ["show", D, "optimizer.name=null"], 2, "optimizer.name", ["must not be null"]),
    ("source-empty", ["show", D, "data.source="], 2, "data.source", ["unknown data source ''"]),
    # --- out of range -----------------------------------------------------------------------
    ("epochs-zero", ["train", D, "train.epochs=0"], 2, "train.epochs", ["expected a positive integer, got 0"]),
    ("epochs-negative", ["show", D, "train.epochs=-1"], 2, "train.epochs", ["got -1"]),
    ("batch-zero", ["show", D, "train.batch_size=0"], 2, "train.batch_size", ["positive"]),
    ("test-split-over", ["show", D, "data.test_split=1.5"], 2, "data.test_split", ["fraction in [0, 1)"]),
    ("val-split-negative", ["show", D, "data.val_split=-0.1"], 2, "data.val_split", ["fraction in [0, 1)"]),
    ("val-split-one", ["show", D, "data.val_split=1"], 2, "data.val_split", ["fraction"]),
    ("kfold-one", ["show", D, "train.kfold=1"], 2, "train.kfold", ["2 or more"]),
    ("fold-without-kfold", ["show", D, "train.fold=3"], 2, "train.fold", ["set train.kfold too"]),
    ("fold-past-kfold", ["show", D, "train.kfold=2", "train.fold=5"], 2, "train.fold", ["1..2"]),
    ("seed-negative", ["show", D, "seed=-1"], 2, "seed", ["0 to 4294967295"]),
    ("seed-too-big", ["show", D, "seed=4294967296"], 2, "seed", ["0 to 4294967295"]),
    ("lr-negative", ["show", D, "optimizer.learning_rate=-1"], 2, "optimizer.learning_rate", ["positive"]),
    ("lr-nan", ["show", D, "optimizer.learning_rate=nan"], 2, "optimizer.learning_rate", ["finite"]),
    ("limit-zero", ["show", D, "data.limit=0"], 2, "data.limit", ["positive"]),
    ("workers-zero", ["show", D, "data.workers=0"], 2, "data.workers", ["positive"]),
    ("sequence-length-zero", ["show", D, "data.sequence_length=0"], 2, "data.sequence_length", ["positive"]),
    ("divide-by-zero", ["show", D, "data.preprocess.divide_by=0"], 2, "data.preprocess.divide_by", ["positive"]),
    ("reshape-zero", ["show", D, "data.preprocess.reshape=[0]"], 2, "data.preprocess.reshape", ["positive"]),
    ("run-name-empty", ["train", D, "run.name="], 2, "run.name", ["is empty"]),
    ("run-dir-empty", ["train", D, "run.dir="], 2, "run.dir", ["is empty"]),
    (
        "schedule-nonpositive-late",
        ["check", D, "callbacks=lr_schedule", SCHEDULE_TO_ZERO.replace("+", ""), "train.epochs=1000000000"],
        2,
        "callbacks.lr_schedule.schedule",
        ["at epoch"],
    ),
    # --- keys: unknown, added, deleted, through lists ---------------------------------------
    ("optimizer-lr", ["show", D, "optimizer.lr=0.1"], 2, "optimizer.lr", ["optimizer.learning_rate=VALUE"]),
    ("optimizer-decay", ["show", D, "optimizer.decay=0.1"], 2, "optimizer.decay", ["schedule"]),
    ("unknown-key", ["train", D, "train.epoch=1"], 2, "train.epoch", ["did you mean 'epochs'"]),
    ("unknown-top-key", ["show", D, "foo=bar"], 2, "foo", ["valid keys: description"]),
    ("add-unknown-nested", ["show", D, "+foo.bar=1"], 2, "foo", ["not a key of the schema"]),
    ("delete-missing", ["show", D, "~nope"], 2, "nope", ["nothing to delete"]),
    ("delete-schema-node", ["show", D, "~train"], 2, "train", ["cannot be deleted"]),
    ("add-existing", ["show", D, "+seed=3"], 2, "seed", ["drop the '+'"]),
    (
        "delete-list-item",
        ["show", D, "~model.outputs.predictions.metrics.0"],
        2,
        "model.outputs.predictions.metrics.0",
        ["by its position"],
    ),
    (
        "list-index-past-end",
        ["show", D, "model.outputs.predictions.metrics.5=x"],
        2,
        "model.outputs.predictions.metrics",
        ["no item 5"],
    ),
    ("list-index-empty", ["show", D, "plugins.0=x"], 2, "plugins", ["no item 0"]),
    ("inside-null", ["show", D, "data.preprocess.reshape.5=3"], 2, "data.preprocess.reshape", ["is null"]),
    ("inside-scalar", ["show", D, "train.epochs.x=3"], 2, "train.epochs", ["single value"]),
    ("group-unknown-option", ["show", D, "model=nope"], 2, "model", ["no config 'nope' in group 'model'"]),
    ("group-typo", ["train", D, "callbacks=early_stoping"], 2, "callbacks", ["did you mean 'early_stopping'"]),
    ("group-added-twice", ["show", D, "+callbacks=early_stopping"], 2, "callbacks", ["drop the '+'"]),
    ("group-empty-option", ["show", D, "data="], 2, "data", ["no config '' in group 'data'"]),
    # --- other commands ---------------------------------------------------------------------
    ("smoke-unknown", ["smoke", "digits_mpl"], 2, "recipe", ["did you mean 'digits_mlp'"]),
    ("smoke-latin1", ["smoke", "mine", "--config-dir", "conf_latin1"], 2, "recipe", ["not a text file"]),
    ("smoke-flag-resume", ["train", "--smoke", "--resume", "latest"], 2, "--smoke", ["cannot resume"]),
    ("resume-recipe", ["train", "--resume", "{run}", D], 2, "recipe", ["drop recipe="]),
    ("resume-unknown-key", ["train", "--resume", "{run}", "train.epoch=3"], 2, "train.epoch", ["no such key"]),
    (
        "resume-wrong-type",
        ["train", "--resume", "{run}", "train.epochs=abc"],
        2,
        "train.epochs",
        ["expected an integer"],
    ),
    ("resume-interp", ["train", "--resume", "{run}", "train.epochs=${nope}"], 2, "train.epochs", ["not a key"]),
    ("resume-grammar", ["train", "--resume", "{run}", "train.epochs=[2"], 2, "overrides", ["close the []"]),
    ("resume-group", ["train", "--resume", "{run}", "callbacks=nope"], 2, "callbacks", ["no config 'nope'"]),
]


def _write_files(root):
    for name, content in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """One finished one-epoch run of digits_mlp, for the --resume rows (trained on first use)."""
    code, run_dir, err = train_in(tmp_path_factory.mktemp("resume"), D, "train.epochs=1")
    assert code == 0, err
    return run_dir


def _run_dirs(root) -> set:
    return {p for p in root.rglob("*") if p.is_dir()}


@pytest.mark.parametrize("args, code, key, fragments", [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_bad_config(cli, in_tmp, request, args, code, key, fragments):
    _write_files(in_tmp)
    run = request.getfixturevalue("finished_run") if "{run}" in args else None
    before = _run_dirs(run.parent.parent) if run else set()
    args = [str(run) if a == "{run}" else a for a in args]
    exit_code, out, err = cli(*args)
    screen = " ".join(err.split())
    assert exit_code == code, out + err
    assert f"error: {key}:" in err if key else "error:" in err, err
    for fragment in fragments:
        assert fragment in screen, err
    assert "Traceback" not in out + err
    assert not (in_tmp / "outputs").exists(), "a bad config left a run directory"
    if run:
        assert _run_dirs(run.parent.parent) == before, "a bad --resume changed the run's directories"


PROBE = r"""
import json, sys
from typer.testing import CliRunner
from dlcli.cli import app
result = CliRunner().invoke(app, sys.argv[1:])
print(json.dumps({"code": result.exit_code, "heavy": sorted(m for m in ("jax", "keras") if m in sys.modules)}))
"""


@pytest.mark.parametrize(
    "row", ["interp-train", "unclosed-list", "recipe-twice", "recipe-latin1", "defaults-relative", "optimizer-lr"]
)
def test_config_errors_do_not_import_jax(in_tmp, row):
    import json

    args = next(r[1] for r in ROWS if r[0] == row)
    _write_files(in_tmp)
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result == {"code": 2, "heavy": []}, proc.stdout + proc.stderr


def test_a_schedule_check_is_bounded_however_many_epochs():
    from dlcli.callbacks.schedule import CHAINED_EPOCHS, SAMPLED_EPOCHS, Formula, check_epochs, epochs_to_check

    start = time.perf_counter()
    check_epochs(Formula("0.001 / (1 + epoch)"), 0.001, 10**12, "schedule")
    check_epochs(Formula("lr * 0.999"), 0.001, 10**12, "schedule")
    assert time.perf_counter() - start < 5
    sampled = epochs_to_check(10**9, chained=False)
    assert len(sampled) <= CHAINED_EPOCHS + SAMPLED_EPOCHS + 1 and sampled[-1] == 10**9 - 1
    assert epochs_to_check(10**9, chained=True) == list(range(CHAINED_EPOCHS))
    assert epochs_to_check(5, chained=False) == [0, 1, 2, 3, 4]
