"""What `dlcli runs list|compare|rm` read: every run's status and headline metrics, the config keys
that differ between runs, their training curves overlaid; and removing runs, the one place that does.

Read from the files a run leaves (config.yaml, env.json, history.csv, metrics.json, the lock a
running process holds, a sweep trial's `trials/<n>.json`), without Keras.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from dlcli.errors import ConfigError, Problem
from dlcli.runs import rundir, sweeps

STATUSES = ("running", "finished", "failed", "interrupted", "pruned")


@dataclass
class RunInfo:
    id: str  # the run id under the runs directory (RECIPE/STAMP), or its path
    path: Path
    recipe: str
    started: str | None
    seconds: float | None
    status: str
    metrics: dict[str, float]  # headline: val, else train, and test

    def as_json(self) -> dict:
        return {**self.__dict__, "path": str(self.path)}


def list_runs(root: Path, recipe: str | None = None) -> list[RunInfo]:
    """Every run under `root` (or `root/RECIPE`), in the order they started (then by id); a K-fold
    run's folds are in its own line."""
    base = Path(root) / recipe if recipe else Path(root)
    if recipe and not base.is_dir():
        known = sorted(p.name for p in Path(root).iterdir() if p.is_dir()) if Path(root).is_dir() else []
        raise ConfigError(
            Problem(
                "RECIPE",
                f"no runs of {recipe!r} under {Path(root).resolve()}",
                f"runs of: {', '.join(known) or 'none'}",
            )
        )
    found = [info(p, root) for p in rundir.runs(base) if not p.name.startswith("fold-")]
    return sorted(found, key=lambda r: (_started(r.path) or 0.0, r.id))  # a sweep's trial 10 after its trial 9


def _started(run_dir: Path) -> float | None:
    """When a run started: its env.json is written then (a K-fold parent has none: its
    overrides.yaml, written once, when it was made; a run's is written again by --resume)."""
    return _mtime(run_dir / "env.json") or _mtime(run_dir / rundir.OVERRIDES)


def info(run_dir: Path, root: Path) -> RunInfo:
    config = _yaml(run_dir / rundir.MARKER)
    try:
        run_id = str(run_dir.resolve().relative_to(Path(root).resolve()))
    except ValueError:
        run_id = str(run_dir)
    started = _started(run_dir)
    ended = _mtime(run_dir / "metrics.json") or _mtime(run_dir / "history.csv")
    return RunInfo(
        run_id,
        run_dir,
        str((config.get("run") or {}).get("name") or run_dir.parent.name),
        datetime.fromtimestamp(started).isoformat(sep=" ", timespec="seconds") if started else None,
        round(ended - started, 1) if started and ended else None,
        status(run_dir),
        headline(read_metrics(run_dir)),
    )


def status(run_dir: Path) -> str:
    """running (a process holds its lock), pruned or failed (a sweep trial, as its study recorded),
    finished (metrics.json written), failed (its loss became NaN), else interrupted (--resume continues it)."""
    if _locked(run_dir):
        return "running"
    recorded = sweeps.trial_state(run_dir)
    if recorded in ("pruned", "failed"):
        return recorded
    if rundir.is_finished(run_dir):
        return "finished"
    losses = read_history(run_dir).get("loss", [])
    if losses and not math.isfinite(losses[-1]):
        return "failed"
    return "interrupted"


def _locked(run_dir: Path) -> bool:
    return rundir.held(run_dir / ".lock")


def read_metrics(run_dir: Path) -> dict:
    try:
        loaded = json.loads((run_dir / "metrics.json").read_text())
    except (OSError, ValueError):
        return {}
    return loaded.get("mean", loaded) if isinstance(loaded, dict) else {}  # a K-fold run: the folds' mean


def headline(metrics: dict) -> dict[str, float]:
    """val's metrics (train's when there is no val), and test's, as `val_accuracy`, `test_loss`."""
    shown = {}
    for split in ("val" if "val" in metrics else "train", "test"):
        for name, value in (metrics.get(split) or {}).items():
            shown[name if split == "train" else f"{split}_{name}"] = value
    return shown


def read_history(run_dir: Path) -> dict[str, list[float]]:
    try:
        rows = list(csv.DictReader((run_dir / "history.csv").read_text().splitlines()))
    except OSError:
        return {}
    history: dict[str, list[float]] = {}
    for row in rows:
        for key, value in row.items():
            if key != "epoch" and value not in (None, ""):
                history.setdefault(key, []).append(float(value))
    return history


def _yaml(path: Path) -> dict:
    try:
        loaded = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


# --- compare ------------------------------------------------------------------------------


@dataclass
class Comparison:
    runs: list[str]
    config: dict[str, list[Any]]  # the keys whose values differ, each run's value (None: the run has no such key)
    metrics: dict[str, list[float | None]]


def compare(run_dirs: list[Path], names: list[str]) -> Comparison:
    flat = [_flatten(_yaml(d / rundir.MARKER)) for d in run_dirs]
    keys = sorted({k for f in flat for k in f})
    differ = {
        k: [f.get(k) for f in flat] for k in keys if len({json.dumps(f.get(k), sort_keys=True) for f in flat}) > 1
    }
    for key in ("run.name", "run.dir"):  # where a run went, not how it trained
        differ.pop(key, None)
    # an ensemble's own scores; its members' (keyed by their paths) are runs to name beside it
    final = [_flatten({k: v for k, v in read_metrics(d).items() if k != "members"}) for d in run_dirs]
    metric_keys = list(dict.fromkeys(k for f in final for k in f))
    return Comparison(names, differ, {k: [f.get(k) for f in final] for k in metric_keys})


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        flat: dict[str, Any] = {}
        for k, v in value.items():
            flat.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return flat
    return {prefix: value} if prefix else {}


def curves(run_dirs: list[Path], names: list[str], out: Path) -> Path:
    """One PNG: every run's loss (and first metric), train solid and val dashed, overlaid."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    histories = [read_history(d) for d in run_dirs]
    keys = list(dict.fromkeys(k for h in histories for k in h if not k.startswith("val_") and k != "learning_rate"))
    keys = keys[:2] or ["loss"]
    fig, axes = plt.subplots(1, len(keys), figsize=(6 * len(keys), 4.5), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for i, (name, history) in enumerate(zip(names, histories)):
            colour = f"C{i % 10}"
            if key in history:
                ax.plot(range(1, len(history[key]) + 1), history[key], color=colour, label=f"{name} train")
            if f"val_{key}" in history:
                values = history[f"val_{key}"]
                ax.plot(range(1, len(values) + 1), values, color=colour, linestyle="--", label=f"{name} val")
        ax.set_title(key)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.tight_layout()
    with rundir.atomic_write(out) as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)
    return out


# --- remove -------------------------------------------------------------------------------


def remove(path: Path) -> None:
    """Delete a run (or a whole sweep) directory, once `check_removable` lets it."""
    check_removable(path)
    shutil.rmtree(path)


def check_removable(path: Path) -> None:
    """Refuse a run a process is writing, and a link to a run: what is deleted is what was named, and
    deleting through a link would remove the run it points to, which was not named."""
    if path.is_symlink():
        raise ConfigError(
            Problem(
                "RUN",
                f"{path} is a link to {os.path.realpath(path)}: rm deletes runs, not links, nor runs through them",
                f"remove the link itself with: rm {path}; or name the run itself: dlcli runs rm {os.path.realpath(path)}",
            )
        )
    sweep = (path / sweeps.SPEC).is_file()
    targets = [path, *(rundir.runs(path) if sweep else [])]
    busy = ([path] if sweep and sweeps.in_progress(path) else []) + [t for t in targets if _locked(t)]
    if busy:
        raise ConfigError(Problem("RUN", f"{busy[0]} is running: a dlcli process is writing it", "stop it first"))
