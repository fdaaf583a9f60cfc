"""`dlcli sweep` and `dlcli train -m`: many runs of one recipe, a grid or an Optuna search, as one study.

A sweep lives in `<run.dir>/<run.name>/sweeps/<stamp>/`: `sweep.yaml` (what was asked, the
search space), the Optuna study (`study.journal`, Optuna's journal file storage, which several
processes share safely; or `--storage URL`), `trials/<n>/` (ordinary run directories) and,
when it ends, `summary.csv`, `best.yaml`, plots and TensorBoard HParams records.

Every trial is a trial of the study: a grid's combinations are enqueued in Hydra's order when
the sweep is created, a search asks Optuna's sampler. Every configuration (each combination of a
grid; each choice, both ends of each interval and a fraction inside a float one, for a search)
is composed and validated before the first trial. A trial reports its metric each epoch (dlcli.callbacks.trial), so a pruner can
stop it; one that fails is recorded as failed and the sweep goes on. A trial that was cut short
(Ctrl-C, SIGKILL) stays `running` in the study; `--resume` continues it from its last epoch
through the run's own resume state, then runs the rest: the budget is the sweep's total.
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from dlcli import foreign, interrupt, lifecycle
from dlcli.config import config_dirs
from dlcli.drivers import space as spaces
from dlcli.drivers.resume import reopen
from dlcli.errors import ConfigError, Interrupted, Problem, RunFailed
from dlcli.runs import rundir, sweeps

SEARCHES = ("grid", "tpe", "random")
PRUNERS = ("median", "hyperband", "none")
DEFAULT_TRIALS = 20


class SweepObserver(lifecycle.Observer):
    """A sweep's events, besides each in-process trial's own (lifecycle.Observer)."""

    def trials(self, rows: list[Row]) -> None:
        """The study's trials as they stand (called whenever one changes)."""


@dataclass
class Plan:
    """What the user asked for."""

    recipe: str | None
    overrides: list[str]
    config_dirs: list[str] = field(default_factory=list)
    runs_dir: Path | None = None
    search: str | None = None
    trials: int | None = None
    metric: str | None = None
    direction: str | None = None
    prune: str | None = None  # default: median for a search; a grid runs every combination to the end
    storage: str | None = None


@dataclass
class Row:
    """One trial as the table and summary.csv show it."""

    number: int
    state: str  # waiting, running, finished, pruned, failed
    params: dict[str, Any]
    value: float | None
    seconds: float | None
    run_dir: str | None
    epoch: int | None = None  # the last epoch reported
    error: str | None = None


@dataclass
class Sweep:
    """A sweep on disk: its directory and what sweep.yaml says."""

    dir: Path
    spec: dict
    ready: dict = field(default_factory=dict, repr=False)  # a new grid's prepared combinations, by overrides
    made: list = field(default_factory=list, repr=False)  # the folders above it that this process created

    @property
    def maximize(self) -> bool:
        return self.spec["direction"] == "maximize"

    def study(self):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        where = self.spec["storage"]
        journal = None if "://" in where else (Path(where) if Path(where).is_absolute() else self.dir / where)
        if journal is not None and not journal.is_file():  # opening it would make an empty one
            raise ConfigError(Problem("SWEEP", f"{journal} is missing: it holds the sweep's study", _NO_STUDY))
        try:
            return optuna.load_study(
                study_name=self.spec["study"], storage=_storage(where, self.dir), pruner=_pruner(self.spec)
            )
        except (KeyError, ValueError) as exc:  # Optuna's 'Record does not exist', or a journal line not JSON
            raise ConfigError(
                Problem("SWEEP", f"{journal or where} holds no readable study {self.spec['study']!r}: {exc}", _NO_STUDY)
            ) from None

    def space(self) -> spaces.Space:
        return spaces.parse(self.spec["swept"], [Path(d) for d in self.spec["config_dirs"]])


_NO_STUDY = "the trials' runs are still in trials/ (dlcli runs list shows them); start a new sweep to search again"


@dataclass
class SweepResult:
    dir: Path
    rows: list[Row]
    best: Row | None
    metric: str


# --- creating a sweep ---------------------------------------------------------------------


def create(plan: Plan) -> Sweep:
    """Check every configuration, then make the sweep directory and its study (nothing has trained)."""
    dirs = [str(d) for d in config_dirs(plan.config_dirs)]
    space = spaces.parse(plan.overrides, [Path(d) for d in dirs])
    search = plan.search or ("grid" if space.discrete else "tpe")
    _check_options(plan, search)
    storage = _shared(plan.storage) if plan.storage else sweeps.JOURNAL
    combos = space.grid() if search == "grid" else space.corners()
    prepared = [_prepare(plan, combo, i, len(combos), dirs, search) for i, combo in enumerate(combos)]
    layers = any(d.key.lstrip("+~").startswith("model") for d in space.dims)  # then each config builds its model
    for i, (combo, one) in enumerate(zip(combos, prepared)):  # after every compose: a typo is found without JAX
        with _refusing(combo, i, len(combos), search, space):
            lifecycle.preflight(one, model=layers)
    cfg = prepared[0].cfg
    metric, metric_from = (
        (plan.metric, "--metric") if plan.metric else _default_metric(prepared, combos, {d.key for d in space.dims})
    )
    direction = plan.direction or ("maximize" if _maximized(metric) else "minimize")
    spec = {
        "recipe": str(prepared[0].composed.recipe.path),
        "recipe_text": prepared[0].composed.recipe.path.read_text(encoding="utf-8"),
        "overrides": list(plan.overrides),
        "fixed": space.fixed,
        "swept": [o.input_line for o in space.parsed if o.is_sweep_override()],
        "space": {d.key: d.describe() for d in space.dims},
        "search": search,
        "trials": len(combos) if search == "grid" else plan.trials or DEFAULT_TRIALS,
        "metric": metric,
        "metric_from": metric_from,  # the key a refusal of it names
        "direction": direction,
        "prune": plan.prune or ("none" if search == "grid" else "median"),
        "seed": int(cfg.seed),
        "config_dirs": dirs,
        "runs_dir": str(Path(cfg.run.dir).resolve()),
        "cwd": os.getcwd(),
    }
    made = rundir.absent(Path(cfg.run.dir) / str(cfg.run.name) / "sweeps")
    staging = rundir.stage(Path(cfg.run.dir) / str(cfg.run.name) / "sweeps")
    try:
        sweep_dir = rundir.publish(staging)
    finally:
        if staging.exists():
            staging.rmdir()
    try:  # the directory is new: if its files cannot be made, it goes (a half-made sweep is never left)
        spec["study"] = f"{cfg.run.name}/{sweep_dir.name}"
        spec["storage"] = storage
        spec["mlflow_parent"] = _mlflow_parent(cfg, spec["study"])
        spec["mlflow_tracking_uri"] = _mlflow_store(cfg)[0]
        _keep_recipe(sweep_dir, spec)
        _new_study(spec, sweep_dir, space, combos if search == "grid" else [])
        sweeps.write_spec(sweep_dir, spec, base=OmegaConf.to_container(cfg, resolve=False, enum_to_str=True))
    except BaseException:
        shutil.rmtree(sweep_dir, ignore_errors=True)
        rundir.remove_empty(made)
        raise
    ready = {tuple(combo): p for combo, p in zip(combos, prepared)} if search == "grid" else {}
    return Sweep(sweep_dir, spec, ready, made)


def _keep_recipe(sweep_dir: Path, spec: dict) -> None:
    """The recipe as the sweep began, kept in the sweep (and in the study, for `--join` on other
    machines): every trial composes from this copy, so editing the user's file while the sweep
    runs, or before `--resume`, changes no trial."""
    kept = sweep_dir / "recipe" / Path(spec["recipe"]).name
    rundir.write_text(kept, spec["recipe_text"])
    spec["recipe"] = str(kept.resolve())


def _mlflow_logger(cfg):
    return next((c for c in (cfg.callbacks or {}).values() if c is not None and c.get("class") == "MLflowLogger"), None)


def _mlflow_store(cfg) -> tuple[str | None, Path | None]:
    """The tracking URI and artifact folder every trial logs to (`mlflow_logger.store`)."""
    logger = _mlflow_logger(cfg)
    if logger is None:
        return None, None
    from dlcli import backend

    backend.setup()  # (the callbacks package imports Keras)
    from dlcli.callbacks.mlflow_logger import store

    return store(logger.get("tracking_uri"), cfg.run.dir)


def _mlflow_parent(cfg, name: str) -> str | None:
    """With callbacks=[mlflow], the MLflow run every trial's run is a child of."""
    logger = _mlflow_logger(cfg)
    if logger is None:
        return None
    from dlcli.callbacks.mlflow_logger import parent_run

    uri, artifacts = _mlflow_store(cfg)
    return parent_run(uri, artifacts, logger.get("experiment") or str(cfg.run.name), name)


def _new_study(spec: dict, sweep_dir: Path, space: spaces.Space, grid: list[list[str]]) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=spec["study"], storage=_storage(spec["storage"], sweep_dir), direction=spec["direction"]
    )
    study.set_user_attr("sweep", spec)
    for combo in grid:  # in Hydra's order: trial n is combination n
        study.enqueue_trial(_params(space, combo), user_attrs={"overrides": combo})


def _check_options(plan: Plan, search: str) -> None:
    if search not in SEARCHES:
        raise ConfigError(Problem("--search", f"unknown search {search!r}", f"choose one of {', '.join(SEARCHES)}"))
    if plan.prune not in (None, *PRUNERS):
        raise ConfigError(Problem("--prune", f"unknown pruner {plan.prune!r}", f"choose one of {', '.join(PRUNERS)}"))
    if plan.direction not in (None, "maximize", "minimize"):
        raise ConfigError(Problem("--direction", f"expected max or min, got {plan.direction!r}"))
    if search == "grid" and plan.trials is not None:
        raise ConfigError(
            Problem(
                "--trials",
                "a grid runs every combination once; --trials is the budget of a search",
                "drop --trials, or add --search tpe (or random)",
            )
        )
    if plan.trials is not None and plan.trials < 1:
        raise ConfigError(Problem("--trials", f"expected at least 1 trial, got {plan.trials}"))


def _prepare(plan: Plan, combo: list[str], index: int, count: int, dirs: list[str], search: str):
    with _refusing(combo, index, count, search, None):
        prepared = lifecycle.prepare(plan.recipe, combo, dirs, runs_dir=plan.runs_dir)
    if prepared.cfg.train.kfold >= 2:
        raise ConfigError(
            Problem(
                "train.kfold", "a sweep's trials are single runs", "drop train.kfold; compare trials on val metrics"
            )
        )
    if lifecycle.joining(prepared.cfg) is not None:  # each trial would wait for processes no sweep starts
        raise ConfigError(
            Problem(
                "distribution.num_processes",
                "a sweep trains each trial in one process (its own, or a --jobs or --join worker's)",
                "drop distribution.num_processes (and KERAS_DISTRIBUTION_NUM_PROCESSES); a trial may still use"
                " this machine's devices: distribution=data_parallel",
            )
        )
    return prepared


@contextmanager
def _refusing(combo: list[str], index: int, count: int, search: str, space: spaces.Space | None):
    """A configuration's refusal, said to be one of the sweep's and which; a float interval's
    fraction refused gets the integer interval as a hint."""
    try:
        yield
    except ConfigError as exc:
        what = "combination" if search == "grid" else "configuration (the search tries every choice and both ends)"
        shown = " ".join(combo) or "(no overrides)"
        sweep = Problem("sweep", f"{what} {index + 1} of {count} is refused, so no trial ran: {shown}")
        floats = [d for d in (space.dims if space else []) if d.values is None and not d.integer]
        for dim in floats:
            if any(p.key == dim.key.lstrip("+~") for p in exc.problems):
                sweep.hint = f"for whole numbers, search {dim.key}=int(interval({dim.low:g},{dim.high:g}))"
        raise ConfigError([sweep, *exc.problems]) from exc


def _params(space: spaces.Space, combo: list[str]) -> dict[str, Any]:
    """A grid combination's value of each swept key, as Optuna records it."""
    parsed = spaces.parse(combo, [])
    given = {o.get_key_element(): o.value() for o in parsed.parsed}
    params = {}
    for dim in space.dims:
        value = given[dim.key]
        params[dim.key] = dim.override(value).partition("=")[2] if dim.verbatim else getattr(value, "text", value)
    return params


def _default_metric(prepared: list, combos: list[list[str]], swept: set[str]) -> tuple[str, str]:
    """The recipe's monitored metric (an EarlyStopping's or checkpoint's), else the validation loss
    (the training loss without a validation split); with the key it came from. Configurations
    that would default to different metrics are refused: trials are ranked on one."""
    found = [_default_of(p.cfg) for p in prepared]
    shown = [" ".join(o for o in combo if o.partition("=")[0] in swept) for combo in combos]
    for (metric, _), combo in zip(found, shown):
        if metric != found[0][0]:
            raise ConfigError(
                Problem(
                    "--metric",
                    f"the configurations are ranked on different metrics by default: {found[0][0]} for"
                    f" {shown[0]}, {metric} for {combo}",
                    "name the one to rank every trial on, e.g. --metric val_loss",
                )
            )
    return found[0]


def _default_of(cfg) -> tuple[str, str]:
    for name, spec in (cfg.callbacks or {}).items():
        if spec is not None and isinstance(spec.get("monitor"), str):
            return str(spec.monitor), f"callbacks.{name}.monitor"
    return ("val_loss" if cfg.data.val_split or cfg.data.val_path else "loss"), "--metric"


# Keras metrics that grow as the model gets better (their names' endings); every other metric and
# every loss is minimised. SpecificityAtSensitivity ends in "sensitivity", PrecisionAtRecall in "recall".
_HIGHER_IS_BETTER = (
    "accuracy", "acc", "auc", "precision", "recall", "sensitivity", "specificity",
    "f1_score", "fbeta_score", "r2_score", "io_u", "cosine_similarity", "correlation",
    "true_positives", "true_negatives",
)  # fmt: skip


def _maximized(metric: str) -> bool:
    name = metric.removeprefix("val_").removeprefix("test_")
    return name.endswith(_HIGHER_IS_BETTER)


def _shared(storage: str) -> str:
    """--storage: an RDB URL as given, or a journal file's absolute path (its folder must exist, and
    be no sweep's: a sweep's own study.journal is continued with --resume or --join, not shared)."""
    if "://" in storage:
        _rdb(storage, "--storage")
        return storage
    path = Path(storage).expanduser().resolve()
    if not path.parent.is_dir() or path.is_dir():
        raise ConfigError(
            Problem(
                "--storage",
                f"cannot keep a journal file at {storage}",
                "name a file in an existing folder, or an RDB URL",
            )
        )
    owner = next((p for p in path.parents if (p / sweeps.SPEC).is_file()), None)
    if owner is not None:
        raise ConfigError(
            Problem(
                "--storage",
                f"{storage} is inside the sweep {owner}: a new sweep would add its study to that sweep's files",
                f"continue that sweep with --resume {owner} (add workers with --join {owner}); or name a file"
                " outside it for a new one",
            )
        )
    if not _journal(path):
        raise ConfigError(
            Problem(
                "--storage",
                f"{storage} exists and is not an Optuna journal file, which a sweep would append to",
                "name a new file, a journal file another sweep made, or an RDB URL",
            )
        )
    return str(path)


def _journal(path: Path) -> bool:
    """Nothing there yet, or an Optuna journal file."""
    return not path.exists() or path.stat().st_size == 0 or rundir.is_journal(path)


# The pip package of each database driver SQLAlchemy imports, where the names differ.
_DRIVERS = {"psycopg": "psycopg[binary]", "psycopg2": "psycopg2-binary", "MySQLdb": "mysqlclient", "pymysql": "PyMySQL"}


def _secret(query_key: str) -> bool:
    """A URL query key that holds a password or token (libpq's `passfile` names a file: no secret)."""
    name = query_key.lower()
    return name in ("pass", "pwd") or any(w in name for w in ("passw", "secret", "token"))


def _rdb(url: str, key: str):
    """Optuna's storage at an RDB URL, opened now: a password in the URL (sweep.yaml keeps the URL),
    a database driver that is not installed, or a database that cannot be opened, is the user's
    `key` (exit 2) before any sweep exists."""
    import optuna
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    try:
        parsed = make_url(url)
        hidden = ("pass", "pwd", "secret", "token", "key")  # in what is shown: more than _secret refuses
        secret = {k: "***" for k in parsed.query if any(w in k.lower() for w in hidden)}
        shown = parsed.update_query_dict(secret).render_as_string(hide_password=True).replace("%2A%2A%2A", "***")
    except SQLAlchemyError:
        raise ConfigError(
            Problem(key, "not a database URL SQLAlchemy reads", "write DIALECT://USER@HOST/DATABASE")
        ) from None
    if parsed.password is not None or any(_secret(k) for k in parsed.query):
        raise ConfigError(
            Problem(
                key,
                f"{shown} holds a password, which would be written to sweep.yaml (every --resume and worker reads"
                " the URL from there)",
                "leave it out of the URL: PostgreSQL's libpq (psycopg, psycopg2) reads it from ~/.pgpass or"
                " PGPASSWORD; MySQL's drivers from a file named in the URL: ?read_default_file=/home/YOU/.my.cnf",
            )
        )
    try:
        _refuse_foreign_sqlite(parsed, shown, key)
        return optuna.storages.RDBStorage(url)
    except ImportError as exc:
        missing = getattr(exc.__cause__, "name", None) or exc.name  # Optuna re-raises the driver's ImportError
        package = _DRIVERS.get(str(missing).split(".")[0], missing)
        hint = f"install it (pip install '{package}'), " if missing else "install the database's driver, "
        hint += "or keep the study in a journal file: --storage FILE"
        said = f"no database driver for {shown}" + (f" (no module named {missing!r})" if missing else "")
        raise ConfigError(Problem(key, said, hint)) from None
    except SQLAlchemyError as exc:
        reason = foreign.first_line(getattr(exc, "orig", None) or exc)
        raise ConfigError(
            Problem(key, f"cannot open the database {shown}: {reason}", "check the URL, and that the database is up")
        ) from None


def _refuse_foreign_sqlite(parsed, shown: str, key: str) -> None:
    """An SQLite file of other tables and no Optuna study (a data set's, say): Optuna would add its
    tables to it. A new file, or one an Optuna study made, is fine."""
    import sqlalchemy

    if parsed.get_backend_name() != "sqlite" or not parsed.database or not Path(parsed.database).is_file():
        return
    engine = sqlalchemy.create_engine(parsed)
    try:
        tables = sorted(sqlalchemy.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    if tables and "version_info" not in tables:  # Optuna's RDB schema has it
        listed = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
        raise ConfigError(
            Problem(
                key,
                f"{shown} holds other tables ({listed}) and no Optuna study: a sweep would add Optuna's tables to it",
                "name a new database file, or one an Optuna study made",
            )
        )


def _storage(url: str, sweep_dir: Path):
    """Optuna's storage: a journal file (the default, in the sweep directory) or an RDB URL."""
    if "://" in url:
        return url
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    path = Path(url) if Path(url).is_absolute() else sweep_dir / url
    return JournalStorage(JournalFileBackend(str(path)))


def _sampler(spec: dict, offset: int):
    import optuna

    seed = spec["seed"] + offset
    if spec["search"] == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, constant_liar=True)  # (a grid's trials are enqueued)


def _pruner(spec: dict):
    import optuna

    if spec["prune"] == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1)
    if spec["prune"] == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1)
    return optuna.pruners.NopPruner()


# --- opening one ------------------------------------------------------------------------


def find(text: str, root: Path | None = None) -> Sweep:
    """A sweep by its directory, `latest` or `RECIPE/sweeps/latest` (the newest under the runs directory)."""
    path = sweeps.find(text, root or Path("outputs"))
    if path is None:
        raise ConfigError(
            Problem(
                "SWEEP",
                f"no sweep {text!r}: not a directory holding {sweeps.SPEC}",
                "give the sweep directory dlcli sweep printed (outputs/RECIPE/sweeps/STAMP), or latest",
            )
        )
    sweeps.check_folders(path)
    return Sweep(path, sweeps.read_spec(path))


def extend(sweep: Sweep, trials: int) -> None:
    """`--resume SWEEP --trials N`: a search's total budget becomes N (a grid's is its combinations)."""
    if sweep.spec["search"] == "grid":
        raise ConfigError(
            Problem(
                "--trials", "a grid runs every combination once; --trials is the budget of a search", "drop --trials"
            )
        )
    made = len([t for t in sweep.study().get_trials(deepcopy=False) if not t.user_attrs.get("surplus")])
    if trials < max(made, 1):
        raise ConfigError(
            Problem(
                "--trials",
                f"a budget of {trials} is below the {made} trials the sweep has made",
                f"give {max(made, 1)} or more: --trials is the total budget, not the trials to add",
            )
        )
    sweep.spec["trials"] = trials
    sweeps.update_spec(sweep.dir, trials=trials)
    sweep.study().set_user_attr("sweep", sweep.spec)  # what --join reads on other machines


def join(text: str, runs_dir: Path | None = None) -> Sweep:
    """Another worker for a sweep whose study is shared (`--storage`): by its directory, or by the
    storage itself (a journal file or an RDB URL). Its trials' run directories are this machine's,
    in a sweep directory of the same name here."""
    path = Path(text).expanduser()
    if "://" not in text and sweeps.find(text, runs_dir or Path("outputs")):  # a sweep, found as --resume finds it
        return find(text, runs_dir)
    import optuna

    sqlite = text.startswith("sqlite:///") and not Path(text.removeprefix("sqlite:///")).is_file()
    if ("://" not in text and not path.is_file()) or sqlite:  # checked first: opening either file creates it
        raise ConfigError(
            Problem("--join", f"no sweep or study at {text!r}", "give a sweep directory, a journal file or an RDB URL")
        )
    if "://" not in text and not _journal(path):
        raise ConfigError(
            Problem(
                "--join",
                f"{text} is not an Optuna journal file",
                "give a sweep directory, a journal file or an RDB URL",
            )
        )
    storage = _rdb(text, "--join") if "://" in text else _storage(str(path.resolve()), Path("."))
    summaries = optuna.get_all_study_summaries(storage)
    owned = [s for s in summaries if "sweep" in s.user_attrs]
    if len(owned) != 1:
        names = ", ".join(s.study_name for s in owned)
        held = f"{len(owned)} dlcli sweeps ({names})" if owned else "no dlcli sweep"
        raise ConfigError(Problem("--join", f"{text} holds {held}", "join by the sweep directory"))
    spec = dict(owned[0].user_attrs["sweep"])
    spec["storage"] = text if "://" in text else str(path.resolve())
    root = Path(runs_dir).resolve() if runs_dir else Path(spec["runs_dir"])
    here = root / spec["study"].rpartition("/")[0] / "sweeps" / spec["study"].rpartition("/")[2]
    if not (here / sweeps.SPEC).is_file():
        here.mkdir(parents=True, exist_ok=True)
        if "recipe_text" in spec:
            _keep_recipe(here, spec)
        sweeps.write_spec(here, spec)
    sweeps.check_folders(here)
    return Sweep(here, spec)


# --- running it -------------------------------------------------------------------------


def run(sweep: Sweep, observer: SweepObserver | None = None, jobs: int = 1) -> SweepResult:
    """Run the sweep's trials until its budget is spent: in this process (`jobs` 1), or in up to
    `jobs` worker processes, a fresh one per trial. Interrupted trials of this machine go first.
    A sweep whose first trial refuses its config (a --metric the runs do not log) is removed: it
    holds nothing but that refusal."""
    try:
        with sweeps.taking_part(sweep.dir):
            return _run(sweep, observer or SweepObserver(), jobs)
    except ConfigError as exc:
        if _only_refused(sweep):
            shutil.rmtree(sweep.dir, ignore_errors=True)
            rundir.remove_empty(sweep.made)
            last = exc.problems[-1]
            last.hint = f"{last.hint + '; ' if last.hint else ''}no trial ran, so {sweep.dir} is removed"
        raise


def _only_refused(sweep: Sweep) -> bool:
    """No trial of the sweep's study ran (here or in a process that joined it): each failed before
    its run directory was made. A study kept outside the sweep (`--storage`) is deleted from it."""
    import optuna
    from optuna.trial import TrialState

    study = sweep.study()
    ran = [t for t in study.get_trials(deepcopy=False) if t.state not in (TrialState.FAIL, TrialState.WAITING)]
    if ran or any((sweep.dir / "trials").glob("*/")):
        return False
    if sweep.spec["storage"] != sweeps.JOURNAL:
        optuna.delete_study(study_name=sweep.spec["study"], storage=_storage(sweep.spec["storage"], sweep.dir))
    return True


def _run(sweep: Sweep, observer: SweepObserver, jobs: int) -> SweepResult:
    study = sweep.study()
    pending = _orphans(study)
    stopped = True
    try:
        if jobs == 1:
            while (number := pending.pop(0) if pending else _next(sweep, study)) is not None:
                observer.trials(rows(study))
                run_trial(sweep, number, observer)
                observer.trials(rows(study))
        else:
            _parallel(sweep, study, jobs, pending, observer)
        stopped = False
    except KeyboardInterrupt:  # between trials (a trial's own interruption is an Interrupted with its hint)
        hint = f"resume with: dlcli sweep --resume {sweep.dir}"
        raise Interrupted(Problem("", "interrupted between trials", hint)) from None
    finally:
        finish(sweep)
        if sweep.spec.get("mlflow_parent"):
            from dlcli.callbacks.mlflow_logger import end_parent

            end_parent(sweep.spec.get("mlflow_tracking_uri"), sweep.spec["mlflow_parent"], finished=not stopped)
    return result(sweep)


def result(sweep: Sweep) -> SweepResult:
    table = rows(sweep.study())
    return SweepResult(sweep.dir, table, _best(table, sweep.maximize), sweep.spec["metric"])


def _orphans(study) -> list[int]:
    """Trials this machine started whose process is gone: they resume first."""
    from optuna.trial import TrialState

    host = socket.gethostname()
    found = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        where, _, pid = str(trial.user_attrs.get("worker", "")).rpartition(":")
        if where == host and not _alive(int(pid)):
            found.append(trial.number)
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return pid != os.getpid()


def _next(sweep: Sweep, study) -> int | None:
    """A new trial's number (its parameters chosen), or None when the budget is spent."""
    from optuna.trial import TrialState

    space = sweep.space()
    if sweep.spec["search"] == "grid":
        if not study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
            return None
    elif len([t for t in study.get_trials(deepcopy=False) if not t.user_attrs.get("surplus")]) >= sweep.spec["trials"]:
        return None
    # Trial n is drawn by a sampler seeded with the sweep's seed + n: a search interrupted and
    # resumed draws what it would have drawn uninterrupted (TPE: given the same finished trials).
    study.sampler = _sampler(sweep.spec, len(study.get_trials(deepcopy=False)))
    trial = study.ask({d.key: d.distribution() for d in space.dims})
    trial.set_user_attr("worker", _worker())
    if sweep.spec["search"] == "grid" and "overrides" not in trial.user_attrs:  # another worker took the last one
        trial.set_user_attr("surplus", True)
        study.tell(trial, state=TrialState.FAIL)
        return None
    if "overrides" not in trial.user_attrs:
        overrides = sweep.spec["fixed"] + [d.override(trial.params[d.key]) for d in space.dims]
        trial.set_user_attr("overrides", overrides)
    return trial.number


def _worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def run_trial(sweep: Sweep, number: int, observer: lifecycle.Observer | None = None) -> None:
    """Train (or resume) trial `number` into `trials/<number>/` and tell the study how it ended.
    A failed run is recorded and returns; a config error or an interruption is raised."""
    import optuna
    from optuna.trial import TrialState

    from dlcli import backend

    backend.setup()  # Keras on JAX before the trial's callback imports it
    from dlcli.callbacks.trial import TrialReport

    study = sweep.study()
    frozen = next(t for t in study.get_trials(deepcopy=False) if t.number == number)
    trial = optuna.Trial(study, frozen._trial_id)
    trial.set_user_attr("worker", _worker())
    run_dir = sweep.dir / "trials" / str(number)
    trial.set_user_attr("run_dir", str(run_dir.resolve()))
    report = TrialReport(trial, sweep.spec["metric"], sweep.spec.get("metric_from", "--metric"))
    try:
        if rundir.is_finished(run_dir):  # killed after it trained, before the study heard
            metrics = sweeps.read_metrics(run_dir)
        else:
            metrics = _train(sweep, frozen.user_attrs["overrides"], run_dir, observer, report)
        value = metric_value(metrics, sweep.spec["metric"])
    except Interrupted as exc:
        exc.problems[-1].hint = f"resume with: dlcli sweep --resume {sweep.dir}"
        raise
    except ConfigError as exc:
        error = exc.problems[0].render().splitlines()[0]
        if sweep.spec["search"] != "grid" and _drawn(exc, sweep):
            _failed(study, trial, sweep, number, error)
            return  # this draw's value is refused (the ends were not): the search goes on to others
        _unclaimed(study, trial, frozen, error, sweep.spec["search"] == "grid")  # (every trial would meet it here)
        raise
    except Exception as exc:  # NaN, a component raised, out of memory: this trial failed, the sweep goes on
        _failed(
            study,
            trial,
            sweep,
            number,
            exc.problems[0].message if isinstance(exc, RunFailed) else f"{type(exc).__name__}: {exc}",
        )
        return
    finally:
        if "keras" in sys.modules:
            sys.modules["keras"].backend.clear_session()
    if not math.isfinite(value):  # Optuna takes no NaN: the trial failed, and says why
        _failed(study, trial, sweep, number, f"{sweep.spec['metric']} is {value}")
        return
    if report.pruned_at is not None:
        study.tell(trial, state=TrialState.PRUNED)
    else:
        study.tell(trial, value)
    sweeps.write_trial(sweep.dir, number, "finished" if report.pruned_at is None else "pruned", value)


def _drawn(exc: ConfigError, sweep: Sweep) -> bool:
    """Whether a search's trial was refused for the value drawn for a swept key (an odd batch size
    on two devices), which other draws need not share, rather than for something every trial has."""
    swept = [d.key.lstrip("+~") for d in sweep.space().dims]
    keys = [p.key for p in exc.problems if p.key]
    return bool(keys) and all(any(k == s or k.startswith(f"{s}.") for s in swept) for k in keys)


def _unclaimed(study, trial, frozen, error: str, grid: bool) -> None:
    """A trial refused for what every trial here shares (a data file this machine lacks): it is
    left out of the budget and the summary, and a grid's combination waits again for a later
    --resume or worker."""
    from optuna.trial import TrialState

    trial.set_user_attr("surplus", True)
    trial.set_user_attr("error", error)
    study.tell(trial, state=TrialState.FAIL)
    if grid:
        study.enqueue_trial(frozen.params, user_attrs={"overrides": frozen.user_attrs["overrides"]})


def _failed(study, trial, sweep: Sweep, number: int, error: str) -> None:
    from optuna.trial import TrialState

    trial.set_user_attr("error", error)
    study.tell(trial, state=TrialState.FAIL)
    sweeps.write_trial(sweep.dir, number, "failed", None, error)


def _train(sweep: Sweep, overrides: list[str], run_dir: Path, observer, report) -> dict:
    """Where the sweep began (when this machine has that folder), so that the recipe's relative
    paths (data.path) name the same files for a --resume or --join started elsewhere."""
    dirs = sweep.spec["config_dirs"]
    resume = (run_dir / rundir.MARKER).is_file()
    run_dir = run_dir.resolve()
    began = Path(sweep.spec["cwd"])
    with _working_in(began if began.is_dir() else None):
        if resume:
            prepared, _ = reopen(str(run_dir), [], Path(sweep.spec["runs_dir"]), dirs)
        else:
            prepared = sweep.ready.pop(tuple(overrides), None) or lifecycle.prepare(
                sweep.spec["recipe"], overrides, dirs, runs_dir=Path(sweep.spec["runs_dir"])
            )
        lifecycle.read_data(prepared)
        built = lifecycle.build(prepared)
        return lifecycle.run(built, observer, run_dir=run_dir, resume=resume, extra=(report,)).metrics


@contextmanager
def _working_in(folder: Path | None):
    """`folder` as the working directory for a while (contextlib.chdir, before Python 3.11)."""
    before = os.getcwd()
    if folder is not None:
        os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def metric_value(metrics: dict, metric: str) -> float:
    """`val_accuracy` -> metrics['val']['accuracy'], `test_loss` -> test, any other name -> train."""
    split, _, name = metric.partition("_")
    if split not in ("val", "test"):
        split, name = "train", metric
    if name not in metrics.get(split, {}):
        logged = [f"{s}_{n}" if s != "train" else n for s, values in metrics.items() for n in values]
        raise ConfigError(Problem("--metric", f"the runs have no {metric!r}", f"choose one of {', '.join(logged)}"))
    return float(metrics[split][name])


# --- several processes ----------------------------------------------------------------------


def _parallel(sweep: Sweep, study, jobs: int, pending: list[int], observer: SweepObserver) -> None:
    running: dict[int, tuple[subprocess.Popen, int]] = {}  # trial -> (process, slot)
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    stopped: ConfigError | None = None
    try:
        while True:
            free = [s for s in range(jobs) if s not in {slot for _, slot in running.values()}]
            while free and stopped is None:
                number = pending.pop(0) if pending else _next(sweep, study)
                if number is None:
                    break
                running[number] = (
                    _spawn(sweep, number, cores[free[0] :: jobs] if len(cores) >= jobs else []),
                    free.pop(0),
                )
            if not running:
                break
            time.sleep(0.5)
            interrupt.check()
            for number, (process, _) in list(running.items()):
                code = process.poll()
                if code is None:
                    continue
                del running[number]
                stopped = stopped or _ended(sweep, study, number, code)
            observer.trials(rows(study))
    except KeyboardInterrupt:
        for process, _ in running.values():  # each saves its run's state, as a run does on Ctrl-C
            process.send_signal(signal.SIGTERM if interrupt.exit_code() == 143 else signal.SIGINT)
        for process, _ in running.values():
            process.wait()
        saved = ", ".join(str(n) for n in running) or "none"
        raise Interrupted(
            Problem(
                "",
                f"interrupted: trials running ({saved}) saved their state in {sweep.dir / 'trials'}",
                f"resume with: dlcli sweep --resume {sweep.dir}",
            )
        ) from None
    if stopped is not None:
        raise stopped


def _spawn(sweep: Sweep, number: int, cores: list[int]) -> subprocess.Popen:
    """A fresh process for one trial (memory cannot grow from trial to trial), on its share of the cores."""
    log = rundir.unused(sweep.dir / "logs" / f"{number}.log")
    log.parent.mkdir(exist_ok=True)
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "dlcli", "--quiet", "sweep-trial", str(sweep.dir.resolve()), str(number)],
            cwd=sweep.spec["cwd"] if Path(sweep.spec["cwd"]).is_dir() else None,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the sweep, which stops each worker once
            env={**os.environ, "OMP_NUM_THREADS": str(max(1, len(cores)))} if cores else None,
        )
    if cores:
        os.sched_setaffinity(process.pid, cores)
    return process


def _ended(sweep: Sweep, study, number: int, code: int) -> ConfigError | None:
    """A worker's exit: a trial it left running died with it (out of memory, killed): failed."""
    from optuna.trial import TrialState

    trial = next(t for t in study.get_trials(deepcopy=False) if t.number == number)
    if code == 2:
        log = sweep.dir / "logs" / f"{number}.log"
        lines = [line for line in log.read_text().splitlines() if line.startswith(("error:", "hint:"))]
        if not lines or not lines[0].startswith("error:"):
            return ConfigError(Problem("", f"trial {number}: config error ({log})"))
        hint = lines[1].removeprefix("hint: ") if len(lines) > 1 and lines[1].startswith("hint:") else None
        return ConfigError(Problem("", lines[0].removeprefix("error: "), hint))
    if trial.state == TrialState.RUNNING:
        import optuna

        _failed(
            study, optuna.Trial(study, trial._trial_id), sweep, number, f"its worker process ended with code {code}"
        )
    return None


# --- what a sweep leaves --------------------------------------------------------------------


def rows(study) -> list[Row]:
    table = []
    for t in study.get_trials(deepcopy=False):
        if t.user_attrs.get("surplus"):
            continue
        last = max(t.intermediate_values) if t.intermediate_values else None
        # a pruned (or running) trial's last reported value; a failed one has none (its last epoch's would mislead)
        reported = t.intermediate_values[last] if last and t.state.name != "FAIL" else None
        value = t.value if t.value is not None else reported
        seconds = t.duration.total_seconds() if t.duration else None
        state = {"COMPLETE": "finished", "FAIL": "failed"}.get(t.state.name, t.state.name.lower())
        table.append(
            Row(
                t.number,
                state,
                dict(t.params),
                value,
                seconds,
                t.user_attrs.get("run_dir"),
                last,
                t.user_attrs.get("error"),
            )
        )
    return table


def _best(table: list[Row], maximize: bool) -> Row | None:
    done = [r for r in table if r.state == "finished" and r.value is not None]
    if not done:
        return None
    return (max if maximize else min)(done, key=lambda r: r.value)


def finish(sweep: Sweep) -> None:
    """summary.csv from the study (every machine's trials), best.yaml, plots, TensorBoard HParams."""
    study = sweep.study()
    table = rows(study)
    keys = list(sweep.spec["space"])
    sweeps.write_summary(sweep.dir, [r.__dict__ for r in table], keys, sweep.spec["metric"])
    best = _best(table, sweep.maximize)
    if best is not None and best.run_dir and (Path(best.run_dir) / rundir.MARKER).is_file():
        sweeps.write_best(sweep.dir, Path(best.run_dir), best.number, sweep.spec["metric"], best.value)
    sweeps.plots(study, sweep.dir, sweep.spec["metric"])
    sweeps.hparams(sweep.dir, [r.__dict__ for r in table], sweep.spec["metric"])
