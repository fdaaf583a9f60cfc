"""Callbacks from config: lookup, argument checks, run-directory paths, schedules, Keras-2 names, errors."""

import math
from types import SimpleNamespace

import keras
import numpy as np
import pytest

from dlcli import callbacks as cb
from dlcli.callbacks import logs, schedule
from dlcli.errors import ConfigError


def _model(outputs=("out",)):
    inp = keras.Input((4,), name="input")
    hidden = keras.layers.Dense(3, name="hidden")(inp)
    made = {name: keras.layers.Dense(1, activation="sigmoid", name=name)(hidden) for name in outputs}
    return keras.Model(inp, made if len(made) > 1 else made[outputs[0]])


def _run(val=True, outputs=("out",)):
    split = SimpleNamespace(x=np.zeros((8, 4), "float32"), y=np.zeros((8, 1), "float32"))
    return cb.RunData(_model(outputs), split, split if val else None, 4)


def _problems(specs, tmp_path, run=None) -> list[tuple[str, str, str | None]]:
    with pytest.raises(ConfigError) as caught:
        cb.from_config(specs, tmp_path, run)
    return [(p.key, p.message, p.hint) for p in caught.value.problems]


# --- schedules ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, epoch, lr, expected",
    [
        ("1 / (1 + epoch)", 3, 0.1, 0.25),  # seed 003's lambda
        ("lr * 0.9", 0, 0.5, 0.45),
        ("lr if epoch < 10 else lr * exp(-0.1)", 12, 1.0, math.exp(-0.1)),
        ("max(1e-4, 0.1 * 0.5 ** floor(epoch / 2))", 5, 0.0, 0.025),
        ("-lr + 2 * pi", 0, 1.0, 2 * math.pi - 1),
        ("0.01", 7, 1.0, 0.01),
    ],
)
def test_formula_schedules(text, epoch, lr, expected):
    value = schedule.from_config(text, "schedule")(epoch, lr)
    assert isinstance(value, float) and value == pytest.approx(expected)


@pytest.mark.parametrize(
    "text, message, hint",
    [
        ("1 / (1 + epochs)", "unknown name 'epochs'", "did you mean 'epoch'"),
        ("__import__('os').system('true')", "unknown name '__import__'", None),
        ("exp(1).hex()", "only math functions can be called", None),
        ("lr.real", "Attribute is not allowed", None),
        ("(lambda: 1)()", "only math functions can be called", None),
        ("'a' * 3", "'a' is not a number", None),
        ("exp(x=1)", "only math functions can be called", None),
        ("[lr for lr in ()]", "ListComp is not allowed", None),
        ("1 / (1 + ", "cannot parse", "formula of epoch and lr"),
    ],
)
def test_formulas_that_are_not_arithmetic_are_refused(text, message, hint):
    with pytest.raises(ConfigError) as caught:
        schedule.from_config(text, "schedule")
    (problem,) = caught.value.problems
    assert problem.key == "schedule" and message in problem.message
    if hint:
        assert hint in problem.hint


def test_formula_errors_at_run_time_say_which_epoch():
    with pytest.raises(ValueError, match="at epoch 0"):
        schedule.from_config("1 / epoch", "s")(0, 0.1)
    with pytest.raises(ValueError, match="at epoch 3"):
        schedule.from_config("10.0 ** 10 ** epoch", "s")(3, 0.1)  # overflows rather than hanging


def test_keras_schedule_by_name_steps_per_epoch():
    fn = schedule.from_config(
        {"class": "ExponentialDecay", "initial_learning_rate": 0.1, "decay_steps": 1, "decay_rate": 0.5}, "s"
    )
    assert [fn(e, 0.0) for e in range(3)] == pytest.approx([0.1, 0.05, 0.025])
    with pytest.raises(ConfigError, match="unknown learning-rate schedule 'ExponentialDecy'"):
        schedule.from_config({"class": "ExponentialDecy"}, "s")


# --- from_config -------------------------------------------------------------------------


def test_paths_land_in_the_run_directory(tmp_path):
    made = cb.from_config(
        {
            "csv": {"class": "CSVLogger", "filename": "training.log"},
            "ckpt": {"class": "ModelCheckpoint", "filepath": "checkpoints/sub/../m-{epoch:02d}.keras"},
            "backup": {"class": "BackupAndRestore", "backup_dir": "backup"},
            "losses": {"class": "LossHistory"},  # its default file name, too
            "tb": {"class": "TensorBoard"},
        },
        tmp_path,
    )
    assert made["csv"].filename == str(tmp_path / "training.log")
    assert made["ckpt"].filepath == str(tmp_path / "checkpoints/sub/../m-{epoch:02d}.keras")
    assert made["backup"].backup_dir == str(tmp_path / "backup")
    assert made["losses"].filename == tmp_path / "loss_history.csv"
    assert made["tb"].log_dir == tmp_path / "tensorboard"


@pytest.mark.parametrize(
    "spec, key",
    [
        ({"class": "ModelCheckpoint", "filepath": "/abs/m.keras"}, "filepath"),
        ({"class": "BackupAndRestore", "backup_dir": "~/elsewhere"}, "backup_dir"),
        ({"class": "BackupAndRestore", "backup_dir": "."}, "backup_dir"),
        ({"class": "CSVLogger", "filename": "a/../../x.csv"}, "filename"),
        ({"class": "CSVLogger", "filename": "history.csv"}, "filename"),
        ({"class": "BackupAndRestore", "backup_dir": "checkpoints"}, "backup_dir"),
        ({"class": "LossHistory", "filename": "state/x.csv"}, "filename"),
        ({"class": "TensorBoard", "log_dir": ".."}, "log_dir"),
        ({"class": "ActivationLogger", "log_dir": ""}, "log_dir"),
    ],
)
def test_paths_that_leave_the_run_directory_or_take_over_dlcli_files_are_refused(tmp_path, spec, key):
    (problem,) = _problems({"cb": spec}, tmp_path)
    assert problem[0] == f"callbacks.cb.{key}"
    (problem,) = _problems({"cb": spec}, None)  # as `check` builds them: no run directory yet


def test_dlcli_tensorboard_replaces_keras_one():
    from dlcli.callbacks.tensorboard import TensorBoard

    assert cb.get("TensorBoard") is TensorBoard
    assert cb.get("RocAucScore").__module__ == "dlcli.callbacks.roc_auc"


def test_unknown_class_and_argument_suggest_the_right_one(tmp_path):
    problems = _problems(
        {"es": {"class": "EarlyStoping"}, "rl": {"class": "ReduceLROnPlateau", "patiense": 3}}, tmp_path
    )
    assert (
        problems[0][:2] == ("callbacks.es.class", "unknown callback 'EarlyStoping'")
        and "'EarlyStopping'" in problems[0][2]
    )
    assert (
        problems[1][:2] == ("callbacks.rl.patiense", "ReduceLROnPlateau takes no argument 'patiense'")
        and "'patience'" in problems[1][2]
    )


def test_problems_found_when_attaching_name_the_config_key(tmp_path):
    problems = _problems(
        {
            "act": {"class": "ActivationLogger"},
            "tb": {"class": "TensorBoard", "embeddings_freq": 1},
            "lr": {"class": "LearningRateScheduler", "schedule": "1 / (1 + epochs)"},
        },
        tmp_path,
        _run(val=False),
    )
    keys = [p[0] for p in problems]
    assert keys == ["callbacks.act", "callbacks.tb.embeddings_freq", "callbacks.lr.schedule"]
    assert "data.val_split" in problems[0][2]


def test_seed_hdf5_checkpoints_get_the_keras3_extension(tmp_path):
    (problem,) = _problems(
        {"ck": {"class": "ModelCheckpoint", "filepath": "model-weights.{epoch:02d}-{val_acc:.6f}.hdf5"}}, tmp_path
    )
    assert problem[0] == "callbacks.ck.filepath" and ".hdf5" in problem[1] and ".keras" in problem[2]
    made = cb.from_config(
        {"ck": {"class": "ModelCheckpoint", "filepath": "my_model.h5"}}, tmp_path
    )  # seed 000's: legacy, still written
    assert made["ck"].filepath == str(tmp_path / "my_model.h5")
    made = cb.from_config(
        {"ck": {"class": "ModelCheckpoint", "filepath": "w.weights.h5", "save_weights_only": True}}, tmp_path
    )
    assert made["ck"].filepath == str(tmp_path / "w.weights.h5")


def test_roc_auc_needs_a_named_output_on_multi_output_models(tmp_path):
    run = _run(outputs=("main", "aux"))
    (problem,) = _problems({"auc": {"class": "RocAucScore"}}, tmp_path, run)
    assert problem[0] == "callbacks.auc.output" and "main" in problem[2]
    (problem,) = _problems({"auc": {"class": "RocAucScore", "output": "mian"}}, tmp_path, run)
    assert "did you mean 'main'" in problem[2]
    assert cb.from_config({"auc": {"class": "RocAucScore", "output": "aux"}}, tmp_path, run)["auc"].output == "aux"


def test_metric_producers_come_first_and_modes_are_filled(tmp_path):
    made = cb.from_config(
        {
            "ckpt": {"class": "ModelCheckpoint", "filepath": "m.keras", "monitor": "val_roc_auc"},
            "es": {"class": "EarlyStopping", "monitor": "val_acc"},
            "es_min": {"class": "EarlyStopping", "monitor": "val_acc", "mode": "min"},
            "auc": {"class": "RocAucScore"},
        },
        tmp_path,
        _run(),
    )
    assert list(made) == ["auc", "ckpt", "es", "es_min"]
    assert (made["ckpt"].mode, made["es"].mode, made["es_min"].mode) == ("max", "max", "min")


# --- Keras-2 names -----------------------------------------------------------------------


def test_callbacks_get_the_keras2_names_they_ask_for_and_history_does_not():
    asking = [
        keras.callbacks.ModelCheckpoint("w.{epoch:02d}-{val_acc:.6f}.keras", monitor="lr"),
        keras.callbacks.EarlyStopping(monitor="out_acc"),
    ]
    assert logs.wanted(asking) == {"val_acc", "lr", "out_acc"}
    aliases = logs.LogAliases(logs.wanted(asking))
    epoch_logs = {"loss": 1.0, "val_accuracy": 0.5, "learning_rate": 0.01, "out_accuracy": 0.7}
    aliases.on_epoch_end(0, epoch_logs)
    assert (epoch_logs["val_acc"], epoch_logs["lr"], epoch_logs["out_acc"]) == (0.5, 0.01, 0.7)
    aliases.remover.on_epoch_end(0, epoch_logs)
    assert epoch_logs == {"loss": 1.0, "val_accuracy": 0.5, "learning_rate": 0.01, "out_accuracy": 0.7}
    assert logs.alias("val_acc", {"val_acc": 1}) is None and logs.alias("bacc", {"baccuracy": 1}) is None


# --- through the CLI ---------------------------------------------------------------------


def test_callbacks_are_enabled_tuned_and_removed_by_override(cli):
    code, out, _ = cli(
        "show",
        "recipe=digits_mlp",
        "callbacks=[early_stopping,tensorboard,roc_auc]",
        "callbacks.early_stopping.patience=9",
        "~callbacks.tensorboard",
    )
    assert code == 0
    section = out[out.index("callbacks:") : out.index("plugins:")]
    assert "patience: 9" in section and "RocAucScore" in section and "TensorBoard" not in section


def test_a_misspelt_callback_is_a_usage_error(cli, in_tmp):
    code, _, err = cli("train", "recipe=digits_mlp", "train.epochs=1", "+callbacks.es={class: EarlyStoping}")
    assert code == 2
    assert "callbacks.es.class: unknown callback 'EarlyStoping'" in err and "did you mean 'EarlyStopping'" in err
    assert not (in_tmp / "outputs" / "digits_mlp").exists() or not any((in_tmp / "outputs" / "digits_mlp").iterdir())


@pytest.mark.parametrize(
    "args, message, hint",
    [
        (
            ["callbacks=early_stopping", "callbacks.early_stopping.monitor=val_los"],
            "callbacks.early_stopping.monitor: the run logs no 'val_los'",
            "did you mean 'val_loss'",
        ),
        (
            ["callbacks=early_stopping", "data.val_split=0"],
            "callbacks.early_stopping.monitor: 'val_loss' needs a validation split, and this run has none",
            "monitor 'loss'",
        ),
        (
            ["+callbacks.ck={class: ModelCheckpoint, filepath: 'w-{val_acuracy:.3f}.keras'}"],
            "callbacks.ck.filepath: the run logs no 'val_acuracy'",
            "did you mean 'val_accuracy'",
        ),
        (
            [
                "model.outputs.predictions.metrics=[auc]",
                "model.outputs.predictions.loss=sparse_categorical_crossentropy",
            ],
            "model.outputs: Keras cannot compute the losses and metrics on a batch of this data",
            "must suit its labels",
        ),
        (
            ["model.outputs.predictions.metrics=[f1_score]"],
            "model.outputs: metric 'f1_score' gives one value per class, not one number",
            "average: macro",
        ),
        (
            ["train.kfold=2", "callbacks=early_stopping", "callbacks.early_stopping.monitor=val_los"],
            "callbacks.early_stopping.monitor: the run logs no 'val_los'",
            "did you mean 'val_loss'",
        ),
        (
            ["callbacks=early_stopping", "callbacks.early_stopping.patience=abc"],
            "callbacks.early_stopping.patience: expected an integer (EarlyStopping's default is 0), got 'abc'",
            "",
        ),
        (
            ["callbacks=checkpoint", "callbacks.checkpoint.save_best_only=maybe"],
            "callbacks.checkpoint.save_best_only: expected true or false (ModelCheckpoint's default is false), got 'maybe'",
            "",
        ),
        (
            ["callbacks=lr_schedule", "callbacks.lr_schedule.schedule='1 / epoch'"],
            "callbacks.lr_schedule.schedule: learning-rate schedule '1 / epoch' at epoch 0: float division by zero",
            "optimizer.learning_rate at epoch 0",
        ),
    ],
    ids=[
        "monitor-typo",
        "val-without-validation",
        "template-typo",
        "metric-unsuited-to-labels",
        "metric-per-class",
        "kfold-parent-not-left-behind",
        "integer-argument",
        "bool-argument",
        "schedule-fails",
    ],
)
def test_what_callbacks_monitor_and_metrics_compute_is_checked_before_any_run_exists(cli, in_tmp, args, message, hint):
    code, _, err = cli("-q", "train", "recipe=digits_mlp", "train.epochs=1", *args)
    flat = " ".join(err.split())
    assert code == 2 and f"error: {message}" in flat and hint in flat, err
    assert not (in_tmp / "outputs").exists() or not any((in_tmp / "outputs").rglob("config.yaml"))


SCHEDULE = (
    "optimizer.learning_rate={class: ExponentialDecay, initial_learning_rate: 0.01, decay_steps: 10, decay_rate: 0.9}"
)


@pytest.mark.parametrize(
    "args, messages, hint",
    [
        (
            [SCHEDULE, "callbacks=[lr_schedule,reduce_lr]"],
            [
                "callbacks.lr_schedule: LearningRateScheduler sets the learning rate, but optimizer.learning_rate is a schedule (ExponentialDecay), which Keras cannot set",
                "callbacks.reduce_lr: ReduceLROnPlateau sets the learning rate, but optimizer.learning_rate is a schedule (ExponentialDecay), which Keras cannot set",
            ],
            "use one or the other: a number for optimizer.learning_rate, or remove the callback (~callbacks.lr_schedule)",
        ),
        (
            [
                "callbacks=lr_schedule",
                "callbacks.lr_schedule.schedule='lr - 0.0004'",
                "train.epochs=5",
            ],  # 0.001 (adam's), 0.0006, 0.0002, then below 0
            [
                "callbacks.lr_schedule.schedule: learning-rate schedule 'lr - 0.0004' gives -0.0002 at epoch 2, and a learning rate must be a positive number"
            ],
            "max(1e-6, lr - 0.01)",
        ),
        (
            ["callbacks=early_stopping", "callbacks.early_stopping.patience=abc"],
            ["callbacks.early_stopping.patience: expected an integer (EarlyStopping's default is 0), got 'abc'"],
            "",
        ),
    ],
    ids=["schedule-set-by-callbacks", "rate-below-zero", "argument-kind"],
)
def test_check_finds_what_callbacks_would_fail_on_mid_run(cli, args, messages, hint):
    code, out, err = cli("check", "recipe=digits_mlp", *args)
    flat = " ".join(err.split())
    assert code == 2 and out == "", err
    assert all(f"error: {m}" in flat for m in messages) and hint in flat, err


def test_a_schedule_that_stays_positive_passes_check(cli):
    code, _, err = cli(
        "check",
        "recipe=digits_mlp",
        "callbacks=[lr_schedule,reduce_lr]",
        "callbacks.lr_schedule.schedule='max(1e-6, lr - 0.0004)'",
        "train.epochs=50",
    )
    assert code == 0, err
