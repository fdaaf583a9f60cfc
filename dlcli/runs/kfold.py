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
from omegaconf import OmegaConf

from dlcli.errors import ConfigError, Interrupted
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


def train_folds(prepared, console=None, quiet: bool = False, parent: Path | None = None) -> KFoldResult:
    """Train every fold into a new parent run; or, given the `parent` of an interrupted one,
    keep its finished folds, resume the fold that was cut short and train the rest."""
    from dlcli import runner

    cfg = prepared.cfg
    k = int(cfg.train.kfold)
    first = _fold(prepared, 1)
    runner.read_data(first)  # data mistakes surface before Keras is imported, and before any run directory exists
    created = parent is None
    if created:
        parent = rundir.create(cfg.run.dir, cfg.run.name)
        rundir.write_text(parent / "config.yaml", rundir.config_yaml(cfg))
        rundir.write_text(
            parent / "overrides.yaml",
            OmegaConf.to_yaml(
                OmegaConf.create(
                    {"recipe": str(prepared.composed.recipe.path), "overrides": prepared.composed.overrides}
                )
            ),
        )
    folds = []
    for index in range(1, k + 1):
        fold_dir = parent / f"fold-{index}"
        if (fold_dir / "model.keras").is_file() and (fold_dir / "metrics.json").is_file():
            folds.append(json.loads((fold_dir / "metrics.json").read_text()))
            if console is not None:
                console.print(f"fold {index}/{k}: finished earlier, kept", highlight=False)
            continue
        fold = first if index == 1 else _fold(prepared, index)
        if fold.data is None:
            runner.read_data(fold)
        resume = fold_dir if fold_dir.is_dir() else None
        try:
            result = runner.train(runner.build(fold), console=console, quiet=quiet, run_dir=fold_dir, resume=resume)
        except Interrupted as exc:  # the whole K-fold run resumes, not the fold alone
            exc.problems[-1].hint = f"resume with: dlcli train --resume {parent}"
            raise
        except ConfigError:  # found before the first fold trained: the new parent holds nothing of the user's
            if created and not folds:
                shutil.rmtree(parent, ignore_errors=True)
            raise
        folds.append(result.metrics)
        if console is not None:
            shown = ", ".join(f"{name} {value:.4f}" for name, value in result.metrics.get("val", {}).items())
            console.print(f"fold {index}/{k}: val {shown}", highlight=False)
        _release(fold)
    mean, std = aggregate(folds)
    rundir.write_json(parent / "metrics.json", {"kfold": k, "folds": folds, "mean": mean, "std": std})
    return KFoldResult(parent, folds, mean, std)


def _fold(prepared, index: int):
    """A copy of the prepared run with `train.fold` set: its own config, the same model graph."""
    fold = copy.copy(prepared)
    fold.composed = copy.copy(prepared.composed)
    fold.composed.cfg = copy.deepcopy(prepared.cfg)
    fold.composed.cfg.train.fold = index
    fold.data = None
    return fold


def _release(fold) -> None:
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


def table(result: KFoldResult):
    """Rows: split and metric; columns: each fold, then mean ± std."""
    from rich.table import Table

    k = len(result.folds)
    out = Table(title=f"{k}-fold cross-validation", title_justify="left")
    out.add_column("split")
    out.add_column("metric")
    for i in range(1, k + 1):
        out.add_column(f"fold {i}", justify="right")
    out.add_column("mean ± std", justify="right")
    for split, metrics in result.mean.items():
        for name, mean in metrics.items():
            cells = [f"{f[split][name]:.4f}" if name in f.get(split, {}) else "" for f in result.folds]
            out.add_row(split, name, *cells, f"{mean:.4f} ± {result.std[split][name]:.4f}")
    return out
