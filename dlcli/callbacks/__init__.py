"""Callbacks from config: `callbacks: {name: {class: EarlyStopping, ...}}`.

`get(name)` finds a Keras callback class or one registered with
`keras.saving.register_keras_serializable` (dlcli's own below, or a plugin's);
Keras has no callback registry of its own. Arguments keep Keras' names and are
checked against the class's signature. Every path a callback writes (or
deletes: BackupAndRestore removes its directory when training ends) is relative
to the run directory and must stay inside it: an absolute path, `~`, a `..`
that climbs out, a link that leads out, the run directory itself or one of the
files dlcli keeps there is a ConfigError naming the key, found when the model is
built, before any run directory exists. Callbacks that config cannot set up
safely (code in a string, callables, sending metrics over the network) are
refused by class.

Keras 3 gives callbacks no `validation_data`: a callback that needs the run's
model or data defines `attach(run: RunData)`, which `from_config` calls before
training; it raises `ConfigError` (keys relative to the callback) when the run
does not suit it, so the user sees the config key.

`for_run` puts users' callbacks and dlcli's own (history, checkpoints, the
resumable state, the events the run's observer hears) in the one order that works.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras

from dlcli.callbacks import activations, logs, loss_history, mlflow_logger, roc_auc, schedule, tensorboard  # noqa: F401  (registers dlcli's callbacks)
from dlcli.callbacks.checkpoint import BestCheckpoint, LastCheckpoint
from dlcli.callbacks.events import Events
from dlcli.callbacks.history import HistoryWriter
from dlcli.callbacks.run_state import RunState
from dlcli.errors import Collector, ConfigError, Problem, did_you_mean
from dlcli.foreign import first_line
from dlcli.graph import registry

# Arguments that name a file or directory the callback writes: these names, and
# any ending in _dir, _path, _file, _filename or _filepath (a plugin's too).
_PATH_ARGS = ("filepath", "filename", "log_dir", "backup_dir", "directory")
_PATH_SUFFIXES = ("_dir", "_path", "_file", "_filename", "_filepath")
_DIR_ARGS = ("_dir", "directory")  # the rest name files, whose folder dlcli makes
# Callbacks config cannot give what they need, or that dlcli will not run from config.
REFUSED = {
    "LambdaCallback": (
        "takes Python functions, which a config cannot hold (a string is not run as code)",
        "write a callback class in a plugin module (plugins: [my_module]) and name it here",
    ),
    "CallbackList": (
        "holds other callback objects; it is not a callback to configure",
        "list each callback under callbacks: instead",
    ),
    "RemoteMonitor": (
        "sends every epoch's metrics over HTTP to a server; dlcli does not send run data off the machine from config",
        "read history.csv (or TensorBoard's logs) from the run directory; a plugin callback can send them if you want it to",
    ),
}


@dataclass
class RunData:
    """What callbacks get of the run besides Keras' `self.model`: its data and batch size."""

    model: Any
    train: Any  # a split with .x and .y
    val: Any | None
    batch_size: int


def known() -> dict[str, type]:
    found = {
        n: getattr(keras.callbacks, n) for n in dir(keras.callbacks) if isinstance(getattr(keras.callbacks, n), type)
    }
    found.update(
        registry.registered(keras.callbacks.Callback)
    )  # dlcli's TensorBoard replaces Keras' (which needs TensorFlow)
    return found


def get(identifier: str) -> type:
    table = known()
    if identifier not in table:
        raise ConfigError(Problem("callbacks", f"unknown callback {identifier!r}", did_you_mean(identifier, table)))
    return table[identifier]


def from_config(
    specs: dict[str, Any], run_dir: Path | None, run: RunData | None = None
) -> dict[str, keras.callbacks.Callback]:
    """Callbacks by config name. Those that add metrics to the logs (RocAucScore) come first, so the others can monitor them.

    `run_dir` None (`check`): paths are checked as text, so the check holds for any run directory."""
    problems = Collector()
    table = known()
    made = {}
    for name, spec in (specs or {}).items():
        where = f"callbacks.{name}"
        if spec is None:  # `callbacks.name=null` switches a group's callback off
            continue
        if not isinstance(spec, dict) or "class" not in spec:
            problems.add(where, "a callback needs `class:` (e.g. EarlyStopping) and its Keras arguments")
            continue
        cls = table.get(str(spec["class"]))
        if cls is None:
            problems.add(
                f"{where}.class",
                f"unknown callback {spec['class']!r}",
                did_you_mean(str(spec["class"]), table) or "valid: " + ", ".join(sorted(table)),
            )
            continue
        refused = _refused(cls)
        if refused:
            problems.add(f"{where}.class", f"{cls.__name__} {refused[0]}", refused[1])
            continue
        kwargs = {k: v for k, v in spec.items() if k != "class"}
        found = len(problems.problems)
        registry.check_kwargs(cls, cls.__name__, kwargs, where, problems)
        if len(problems.problems) > found:
            continue
        try:
            callback = cls(**_arguments(cls, kwargs, run_dir))
            if run is not None and hasattr(callback, "attach"):
                callback.attach(run)
        except ConfigError as exc:
            problems.problems.extend(
                Problem(f"{where}.{p.key}" if p.key else where, p.message, p.hint) for p in exc.problems
            )
            continue
        except Exception as exc:
            problems.add(where, f"{cls.__name__} failed: {first_line(exc)}", code="foreign")
            continue
        made[name] = callback
    problems.raise_if_any()
    first = {n: c for n, c in made.items() if getattr(c, "adds_logs", False)}
    return {**first, **{n: c for n, c in made.items() if n not in first}}


def check(
    specs: dict[str, Any], learning_rate: Any, epochs: int, steps_per_execution: str = "auto", runs_dir: str = "outputs"
) -> None:
    """Build the callbacks once before the model is built (nothing is written before training), so
    `dlcli check` and every run find their mistakes before a run directory exists; and what only
    shows mid-run: a learning rate set on a schedule Keras cannot set, a formula that fails or goes
    non-positive at some epoch (run, as Keras will, from optimizer.learning_rate), a callback that
    reads every batch with several steps per execution, an MLflow store outside `runs_dir`."""
    made = from_config(specs, None)  # no run directory yet: paths are checked as text, for any run directory
    problems = Collector()
    readers = batch_readers(made)
    steps = 1 if steps_per_execution == "auto" else int(steps_per_execution)
    if steps > 1 and readers:
        problems.add(
            "train.steps_per_execution",
            f"callbacks.{readers[0]} reads every batch, and {steps} steps per execution would show it one in {steps}",
            f"remove the callback (~callbacks.{readers[0]}); or, in a new run, leave train.steps_per_execution=auto"
            " (1 with such a callback)",
        )
    for name, callback in made.items():
        where = f"callbacks.{name}"
        if isinstance(callback, mlflow_logger.MLflowLogger):  # the one callback path that is a URI, not a file
            mlflow_logger.check_store(callback.tracking_uri, runs_dir, f"{where}.tracking_uri")
        setter = isinstance(callback, (keras.callbacks.LearningRateScheduler, keras.callbacks.ReduceLROnPlateau))
        if setter and isinstance(learning_rate, dict):
            problems.add(
                where,
                f"{type(callback).__name__} sets the learning rate, but optimizer.learning_rate is a schedule ({learning_rate.get('class')}), which Keras cannot set",
                f"use one or the other: a number for optimizer.learning_rate, or remove the callback (~{where})",
            )
        elif isinstance(callback, keras.callbacks.LearningRateScheduler):
            try:
                schedule.check_epochs(callback.schedule, float(learning_rate), epochs, f"{where}.schedule")
            except ConfigError as exc:
                problems.problems.extend(exc.problems)
    problems.raise_if_any()


def batch_readers(made: dict[str, keras.callbacks.Callback]) -> list[str]:
    """The callbacks that read every batch (LossHistory, TensorBoard's update_freq, any that
    overrides a batch hook), which several steps per execution would show one batch in N.
    TerminateOnNaN is not one: the epoch's mean loss it reads stays NaN, seen at the next round trip;
    nor are TensorBoard at update_freq="epoch" and ModelCheckpoint or BackupAndRestore at
    save_freq="epoch", whose batch hooks then do nothing."""
    hooks = ("on_train_batch_end", "on_train_batch_begin", "on_batch_end", "on_batch_begin")
    return [
        name
        for name, c in made.items()
        if any(getattr(type(c), h) is not getattr(keras.callbacks.Callback, h) for h in hooks)
        and "epoch" not in (getattr(c, "update_freq", None), getattr(c, "save_freq", None))
        and not isinstance(c, keras.callbacks.TerminateOnNaN)
    ]


def _arguments(cls: type, kwargs: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    """Config values -> constructor arguments: run-dir paths, schedules from formulas, a mode Keras cannot infer."""
    kwargs = dict(kwargs)
    defaults = {
        p.name: p.default for p in inspect.signature(cls.__init__).parameters.values() if isinstance(p.default, str)
    }
    for key in _path_args(cls, kwargs):
        value = kwargs.get(key, defaults.get(key))
        if value is not None:  # a default path lands in the run directory too
            kwargs[key] = str(_inside_run(key, value, run_dir))
    path = str(kwargs.get("filepath", ""))
    if issubclass(cls, keras.callbacks.ModelCheckpoint) and path.endswith(
        ".hdf5"
    ):  # (.h5 Keras 3 still writes, as legacy HDF5)
        raise ConfigError(
            Problem(
                "filepath",
                "Keras 3 does not save models as .hdf5 (seed 001's name)",
                "end the file name in .keras (or the legacy .h5), or in .weights.h5 with save_weights_only: true",
            )
        )
    if issubclass(cls, keras.callbacks.LearningRateScheduler) and "schedule" in kwargs:
        kwargs["schedule"] = schedule.from_config(kwargs["schedule"], "schedule")
    names, _ = registry.accepted(cls)
    if "mode" in names and "mode" not in kwargs and isinstance(kwargs.get("monitor"), str):
        mode = logs.mode_for(kwargs["monitor"])
        if mode is not None:
            kwargs["mode"] = mode
    return kwargs


def _refused(cls: type) -> tuple[str, str] | None:
    for klass in cls.__mro__:
        if klass.__name__ in REFUSED and getattr(keras.callbacks, klass.__name__, None) is klass:
            return REFUSED[klass.__name__]
    return None


def _path_args(cls: type, kwargs: dict[str, Any]) -> list[str]:
    names = set(kwargs) | set(inspect.signature(cls.__init__).parameters)
    return sorted(n for n in names if n in _PATH_ARGS or n.endswith(_PATH_SUFFIXES))


def _inside_run(key: str, value: Any, run_dir: Path | None) -> Path:
    """`value` inside the run directory, or a ConfigError naming the key (see the module's docstring).
    With no run directory yet (`check`) the relative path itself is returned, checked as text."""
    from dlcli import safepath
    from dlcli.runs.rundir import OWN_DIRS, OWN_FILES, is_own

    what = "a callback writes only inside the run directory"
    hint = "give a path relative to the run directory, e.g. logs/training.csv (the run directory is printed at the end)"
    if not isinstance(value, (str, Path)):
        raise ConfigError(Problem(key, f"expected a path relative to the run directory, got {value!r}", hint))
    text = str(value)
    reason = safepath.template_problem(text)
    if reason:
        raise ConfigError(Problem(key, reason, "write the template with fields such as {epoch:02d} or {val_loss:.4f}"))
    landing = safepath.filled(text)  # where it lands once the callback fills it in
    safepath.check(None, landing, key, what, hint)
    if is_own(landing):
        raise ConfigError(
            Problem(
                key,
                f"{text!r} is dlcli's own in the run directory ({', '.join(OWN_FILES + OWN_DIRS)})",
                "choose another name, e.g. a folder of the callback's own",
            )
        )
    if run_dir is None:
        return Path(text)
    safepath.check(run_dir, landing, key, what, hint)
    if not key.endswith(_DIR_ARGS) and "{" not in str(Path(text).parent):
        (run_dir / text).parent.mkdir(parents=True, exist_ok=True)  # CSVLogger does not make its folder
    return run_dir / text


@dataclass
class ForRun:
    ordered: list  # for `fit`
    history: HistoryWriter  # every epoch of the run, resumed ones included
    state: Any  # RunState: what `--resume` continues from
    users: dict[str, keras.callbacks.Callback]

    def restored_epoch(self) -> int | None:
        """The epoch (from 0) whose weights the model ended `fit` with, when an EarlyStopping with
        restore_best_weights put them back (Keras does at train end, stopped early or not; the
        last such callback wins), else None: the last epoch's."""
        restored = [
            c
            for c in self.users.values()
            if isinstance(c, keras.callbacks.EarlyStopping) and c.restore_best_weights and c.best_weights is not None
        ]
        return restored[-1].best_epoch if restored else None


def for_run(specs: dict[str, Any], run_dir: Path, run: RunData, logged: set[str], observer) -> ForRun:
    """`logged`: the names one evaluated batch logs, to check what users' callbacks monitor;
    `observer`: where the training events go (dlcli.lifecycle.Observer)."""
    history = HistoryWriter(run_dir / "history.csv")
    best = BestCheckpoint(run_dir / "checkpoints" / "best.keras", monitor="val_loss" if run.val is not None else "loss")
    last = LastCheckpoint(run_dir / "checkpoints" / "last.keras")
    users = from_config(specs, run_dir, run)
    logs.check_available(users, logged, run.val is not None)
    aliases = logs.LogAliases(logs.wanted(users.values()))
    state = RunState(
        run_dir, {**{f"callbacks.{n}": c for n, c in users.items()}, "dlcli.history": history, "dlcli.best": best}
    )
    # `last` saves the final weights before EarlyStopping may restore its best
    # ones at train end. Users' callbacks see each epoch first (with the Keras-2
    # metric names they ask for; EarlyStopping may stop), then dlcli's
    # bookkeeping records it, the state is saved after everything it holds, and
    # the observer (the display) hears of it last.
    ordered = [
        last,
        aliases,
        *users.values(),
        aliases.remover,
        logs.StopOnNaN(),
        history,
        best,
        state,
        Events(observer),
    ]
    return ForRun(ordered, history, state, users)
