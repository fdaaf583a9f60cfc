"""`dlcli train --resume RUN`: reopen a run and continue it, ending where the uninterrupted run would have.

The run's own config is the base and the overrides are composed onto it by
Hydra, as for a new run (`callbacks=NAME` picks from the shipped and
`--config-dir` groups). Only what keeps it the same run may change.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from dlcli import lifecycle
from dlcli.config import Composed, Recipe, compose_saved
from dlcli.drivers import kfold, single
from dlcli.errors import ConfigError, Interrupted, Problem
from dlcli.runs import load, rundir, snapshot, sweeps

# Keys `--resume` may change; everything else would make it a different run. (The devices
# and processes may change: a data-parallel run gives the one-device results within float tolerance.)
CHANGEABLE = ("train.epochs", "train.evaluate_test", "callbacks", "distribution")
GROUPS = ("model", "data", "optimizer", "train")  # config groups whose options a resumed run keeps


def reopen(
    run: str, overrides: list[str], root: str | Path, config_dirs: list[str] | None = None
) -> tuple[lifecycle.Prepared, Path]:
    """The run's own config with `overrides` applied, checked to keep it the same run."""
    if any(o.startswith("recipe=") for o in overrides):
        raise ConfigError(
            Problem(
                "recipe",
                "--resume continues the run with its own recipe and config",
                "drop recipe=; overrides may change train.epochs and callbacks",
            )
        )
    _refuse_group_choices(overrides)
    run_dir = rundir.find(run, root)
    for folder in ("checkpoints", "plots", "state", *(p.name for p in run_dir.glob("fold-*"))):
        rundir.inside(run_dir, folder)  # written again as training goes on: no link may carry them out
    if (run_dir / "ensemble.json").is_file():  # its model.keras is its members averaged: training it would replace that
        raise ConfigError(
            Problem(
                "RUN",
                f"{run_dir} is an ensemble: it was averaged from finished runs, not trained, so there is nothing to resume",
                "resume or train its members (ensemble.json lists them), then ensemble them again",
            )
        )
    saved = rundir.load_config(run_dir)
    try:
        cfg = compose_saved(saved, run_dir / rundir.MARKER, overrides, config_dirs)
    except ConfigError as exc:
        for problem in exc.problems:
            if problem.code == "unknown_key":
                problem.message = "the run's config has no such key"
        raise
    _refuse_changes(OmegaConf.to_container(saved, resolve=True), OmegaConf.to_container(cfg, resolve=True))
    _check_progress(run_dir, cfg, saved)
    load.check_data_unchanged(run_dir, cfg.data)  # the splits are cut again from it
    first = rundir.load_overrides(run_dir)
    recipe = Recipe(str(cfg.run.name), Path(str(first.recipe)), str(cfg.description))
    return lifecycle.validated(Composed(cfg, recipe, list(overrides))), run_dir


def run(prepared: lifecycle.Prepared, run_dir: Path, observer: lifecycle.Observer | None = None):
    """Continue the reopened run: a K-fold parent keeps its finished folds, a single run its epochs."""
    trial = sweeps.trial_of(run_dir)
    if trial is not None and observer is not None:
        observer.note(
            f"{run_dir} is trial {trial[1]} of the sweep {trial[0]}: the sweep's summary.csv and study keep "
            "the result its search compared; this resume changes the run only"
        )
    try:
        if kfold.wanted(prepared.cfg):
            return kfold.run(prepared, observer, parent=run_dir)
        return single.run(prepared, observer, run_dir=run_dir, resume=True)
    except KeyboardInterrupt:  # before training went on (once it has, the lifecycle says what is saved)
        raise Interrupted(
            Problem("", f"interrupted: {run_dir} is as it was", f"resume with: dlcli train --resume {run_dir}")
        ) from None


def _refuse_group_choices(overrides: list[str]) -> None:
    """`optimizer=sgd` picks another group option: another run (`callbacks=NAME` may change)."""
    for item in overrides:
        key, sep, _ = item.partition("=")
        if sep and key in GROUPS:
            raise ConfigError(
                Problem(
                    key,
                    f"--resume cannot change this: {item!r} picks another {key} option",
                    "a resumed run keeps its model, data and optimizer; start a new run for the rest",
                )
            )


_ABSENT = object()


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        flat = {}
        for k, v in value.items():
            flat.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return flat
    return {prefix: value}


def _changeable(key: str) -> bool:
    return any(key == c or key.startswith(c + ".") for c in CHANGEABLE)


def _refuse_changes(before: dict, after: dict) -> None:
    old, new = _flatten(before), _flatten(after)
    changed = sorted(
        k for k in old.keys() | new.keys() if old.get(k, _ABSENT) != new.get(k, _ABSENT) and not _changeable(k)
    )
    if not changed:
        return
    problems = [
        Problem(
            k,
            f"--resume cannot change this: the run has {old.get(k, '(nothing)')!r}, the override gives {new.get(k, '(nothing)')!r}",
        )
        for k in changed
    ]
    problems[
        -1
    ].hint = f"a resumed run keeps its model, data and optimizer; only {', '.join(c + ('.*' if c in ('callbacks', 'distribution') else '') for c in CHANGEABLE)} may change. Start a new run for the rest"
    raise ConfigError(problems)


def _check_progress(run_dir: Path, cfg: DictConfig, saved: DictConfig) -> None:
    """Refuse a resume that has nothing to do: the run finished and train.epochs did not grow."""
    if (run_dir / "fold-1").is_dir():  # a K-fold parent: its folds are averaged, so they must train alike
        if cfg.train.epochs != saved.train.epochs:
            raise ConfigError(
                Problem(
                    "train.epochs",
                    f"the folds of a K-fold run train alike: {run_dir} resumes with its own train.epochs={saved.train.epochs}",
                    "drop the override; to train longer, start a new K-fold run",
                )
            )
        if rundir.is_finished(run_dir):
            raise ConfigError(
                Problem(
                    "RUN",
                    f"{run_dir} finished: all {saved.train.kfold} folds trained",
                    "start a new run to train differently",
                )
            )
        return
    saved_state = snapshot.read_snapshot(run_dir)
    if saved_state is None:
        return
    meta = saved_state[0]
    done, finished = meta["epoch"], rundir.is_finished(run_dir)
    stoppers = [n for n, c in (cfg.callbacks or {}).items() if c is not None and str(c.get("class")) == "EarlyStopping"]
    if meta["stopped"] and finished and stoppers:
        raise ConfigError(
            Problem(
                "RUN",
                f"{run_dir} finished: {stoppers[0]} stopped it after epoch {done}",
                f"it would stop it again: to train on, remove it (~callbacks.{stoppers[0]}) and raise train.epochs; or start a new run",
            )
        )
    if cfg.train.epochs < done or (finished and cfg.train.epochs == done):
        raise ConfigError(
            Problem(
                "train.epochs",
                f"{run_dir} has trained {done} epochs; train.epochs={cfg.train.epochs} leaves nothing to do",
                f"to train longer, pass train.epochs=N with N > {done}",
            )
        )
