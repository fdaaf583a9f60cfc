"""`train.kfold=K`: K trainings into one parent run, and the mean ± std of every metric.

The parent run directory holds the resolved config, `metrics.json` (each
fold's metrics, their mean and their standard deviation) and `fold-1/` ...
`fold-K/`, each a complete run whose config records its fold (`train.fold`),
so `dlcli evaluate RUN/fold-2` rebuilds exactly that fold's splits. The test
split, when there is one, is held out before folding and is the same for
every fold; each fold's validation split is its held-out fold.
"""

from __future__ import annotations

import copy
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dlcli import lifecycle
from dlcli.drivers import single
from dlcli.errors import ConfigError, Interrupted, Problem
from dlcli.runs import rundir


@dataclass
class KFoldResult:
    run_dir: Path
    folds: list[dict[str, dict[str, float]]]
    mean: dict[str, dict[str, float]]
    std: dict[str, dict[str, float]]


def wanted(cfg) -> bool:
    """K-fold asked for, and not one fold of it alone."""
    return cfg.train.kfold >= 2 and cfg.train.fold is None


def run(
    prepared: lifecycle.Prepared, observer: lifecycle.Observer | None = None, parent: Path | None = None
) -> KFoldResult:
    """Train every fold into a new parent run; or, given the `parent` of an interrupted one,
    keep its finished folds, resume the fold that was cut short and train the rest."""
    observer = observer or lifecycle.Observer()
    cfg = prepared.cfg
    k = int(cfg.train.kfold)
    first = _fold(prepared, 1)
    lifecycle.read_data(first)  # data mistakes surface before Keras is imported, and before any run directory exists
    created = parent is None
    if created:
        staging = rundir.stage_run(cfg.run.dir, cfg.run.name)
        lifecycle.write_config(staging, prepared.composed)
        parent = rundir.publish(staging)
    folds = []
    for index in range(1, k + 1):
        fold_dir = parent / f"fold-{index}"
        if (fold_dir / "model.keras").is_file() and (fold_dir / "metrics.json").is_file():
            folds.append(json.loads((fold_dir / "metrics.json").read_text()))
            observer.fold_kept(index, k)
            continue
        fold = first if index == 1 else _fold(prepared, index)
        try:
            result = single.run(fold, observer, run_dir=fold_dir, resume=fold_dir.is_dir())
        except Interrupted as exc:  # the whole K-fold run resumes, not the fold alone
            exc.problems[-1].hint = f"resume with: dlcli train --resume {parent}"
            exc.run_dir = parent
            raise
        except KeyboardInterrupt:  # before the fold's own run existed (reading, building): the parent resumes
            held = {0: "its config, no fold yet", 1: "fold 1"}.get(len(folds), f"folds 1-{len(folds)}")
            raise Interrupted(
                Problem(
                    "",
                    f"interrupted before fold {index} of {k} trained: {parent} holds {held}",
                    f"resume with: dlcli train --resume {parent}",
                ),
                parent,
            ) from None
        except ConfigError:  # found before the first fold trained: the new parent holds nothing of the user's
            if created and not folds:
                shutil.rmtree(parent, ignore_errors=True)
            raise
        folds.append(result.metrics)
        observer.fold_done(index, k, result.metrics)
        _release(fold)
    mean, std = aggregate(folds)
    rundir.write_json(parent / "metrics.json", {"kfold": k, "folds": folds, "mean": mean, "std": std})
    return KFoldResult(parent, folds, mean, std)


def _fold(prepared: lifecycle.Prepared, index: int) -> lifecycle.Prepared:
    """A copy of the prepared run with `train.fold` set: its own config, the same model graph."""
    fold = copy.copy(prepared)
    fold.composed = copy.copy(prepared.composed)
    fold.composed.cfg = copy.deepcopy(prepared.cfg)
    fold.composed.cfg.train.fold = index
    fold.data = None
    return fold


def _release(fold: lifecycle.Prepared) -> None:
    """Free the fold's model and data before building the next one."""
    import keras

    fold.data = None
    keras.backend.clear_session()


def aggregate(folds: list[dict[str, dict[str, float]]]) -> tuple[dict, dict]:
    """Mean and (population) standard deviation of every split's every metric over the folds."""
    mean: dict[str, dict[str, float]] = {}
    std: dict[str, dict[str, float]] = {}
    for split in dict.fromkeys(s for f in folds for s in f):
        for name in dict.fromkeys(m for f in folds for m in f.get(split, {})):
            values = np.array([f[split][name] for f in folds if name in f.get(split, {})], dtype="float64")
            mean.setdefault(split, {})[name] = float(values.mean())
            std.setdefault(split, {})[name] = float(values.std())
    return mean, std
