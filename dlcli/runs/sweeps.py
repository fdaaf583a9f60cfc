"""A sweep directory's files: `sweep.yaml`, `summary.csv`, `best.yaml`, plots and TensorBoard HParams.

`outputs/<recipe>/sweeps/<stamp>/` has no config.yaml, so it is never taken for a run; its
`trials/<n>/` are ordinary runs. Every file is written atomically (rundir.write_text).
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import io
import json
import os
import warnings
from pathlib import Path
from typing import Any

import yaml

from dlcli import safepath
from dlcli.errors import ConfigError, Problem
from dlcli.runs import rundir

SPEC = rundir.SWEEP_SPEC
JOURNAL = "study.journal"
SUMMARY = "summary.csv"
BEST = "best.yaml"
# What dlcli writes in a sweep directory: its files, and its folders (each trial's run is in trials/N/)
OWN = (SPEC, JOURNAL, SUMMARY, BEST, ".lock", "trials", "plots", "tensorboard", "recipe", "logs")


def owner(path: str | Path) -> Path | None:
    """The sweep directory of which `path` is one of dlcli's own files (OWN); a path inside a trial's
    run, trials/N/..., is that run's (rundir.owner), and a folder of the user's own in the sweep is theirs."""
    path = Path(os.path.realpath(Path(path).parent)) / Path(path).name
    for folder in path.parents:
        if (folder / SPEC).is_file():
            parts = path.relative_to(folder).parts
            own = parts[0] in OWN and not (parts[0] == "trials" and len(parts) > 2)
            return folder if own else None
    return None


LOCK = ".lock"  # every process running the sweep's trials holds it shared while it does


@contextlib.contextmanager
def taking_part(sweep_dir: Path):
    """This process runs the sweep's trials: `runs rm` refuses the sweep meanwhile (`in_progress`)."""
    with open(Path(sweep_dir) / LOCK, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_SH)
        yield


def in_progress(sweep_dir: Path) -> bool:
    """Whether a process is running the sweep's trials (one holds its lock)."""
    return rundir.held(Path(sweep_dir) / LOCK, shared_too=True)


def check_folders(sweep_dir: Path) -> None:
    """The folders a sweep fills later (--resume, --join, runs compare): none may be a link that
    carries its files out of the sweep."""
    for folder in ("trials", "plots", "tensorboard", "logs", "recipe"):
        try:
            safepath.inside(sweep_dir, folder)
        except ValueError as exc:
            raise ConfigError(
                Problem(
                    "SWEEP",
                    f"{exc}: dlcli writes a sweep's files only inside it",
                    f"remove the link {Path(sweep_dir) / folder}",
                )
            ) from None


def write_spec(sweep_dir: Path, spec: dict, base: dict | None = None) -> None:
    """sweep.yaml: what was asked (recipe, overrides, search space, metric), and the base config."""
    content = {**spec, **({"base": base} if base is not None else {})}
    rundir.write_text(sweep_dir / SPEC, yaml.safe_dump(content, sort_keys=False, allow_unicode=True))


def update_spec(sweep_dir: Path, **changes) -> None:
    """Change keys of sweep.yaml, keeping the rest (the base config too)."""
    content = yaml.safe_load((sweep_dir / SPEC).read_text())
    rundir.write_text(sweep_dir / SPEC, yaml.safe_dump({**content, **changes}, sort_keys=False, allow_unicode=True))


def read_spec(sweep_dir: Path) -> dict:
    loaded = yaml.safe_load((sweep_dir / SPEC).read_text())
    loaded.pop("base", None)
    return loaded


def sweeps(root: Path) -> list[Path]:
    """Every sweep directory under `root`, oldest first."""
    root = Path(root)
    found = [p.parent for p in root.rglob(SPEC) if p.parent.parent.name == "sweeps"] if root.is_dir() else []
    return sorted(found, key=lambda p: (p.name, str(p)))


def find(text: str, root: Path) -> Path | None:
    """A sweep directory: as given, under `root`, or the newest one: `sweeps/latest`,
    `RECIPE/sweeps/latest` (or `latest` where only a sweep is meant). None when there is none."""
    for path in (Path(text).expanduser(), Path(root) / text):
        if (path / SPEC).is_file():
            return path
    if text != "latest" and not text.endswith("sweeps/latest"):
        return None
    recipe = text.removesuffix("latest").removesuffix("sweeps/").rstrip("/")
    found = sweeps(Path(root) / recipe if recipe else Path(root))
    return found[-1] if found else None


def read_metrics(run_dir: Path) -> dict:
    return json.loads((Path(run_dir) / "metrics.json").read_text())


def write_trial(sweep_dir: Path, number: int, state: str, value: float | None, error: str | None = None) -> None:
    """`trials/<n>.json` beside the trial's run: how the study recorded it (`runs list` reads it:
    a pruned or failed trial's run directory looks like any other)."""
    rundir.write_json(
        sweep_dir / "trials" / f"{number}.json", {"trial": number, "state": state, "value": value, "error": error}
    )


def trial_of(run_dir: Path) -> tuple[Path, int] | None:
    """(the sweep directory, the trial's number) when `run_dir` is a sweep's trial, trials/N/, else None."""
    run_dir = Path(run_dir)
    sweep_dir = run_dir.parent.parent
    if run_dir.parent.name != "trials" or not run_dir.name.isdigit() or not (sweep_dir / SPEC).is_file():
        return None
    return sweep_dir, int(run_dir.name)


def trial_state(run_dir: Path) -> str | None:
    """A sweep trial's state as its study recorded it (finished, pruned, failed), or None; None too
    once `train --resume` finished the run again after the record (it is no longer what the study saw)."""
    record = Path(run_dir).parent / f"{Path(run_dir).name}.json"
    metrics = Path(run_dir) / "metrics.json"
    if Path(run_dir).parent.name != "trials" or not record.is_file():
        return None
    if metrics.is_file() and metrics.stat().st_mtime_ns > record.stat().st_mtime_ns:
        return None
    try:
        return str(json.loads(record.read_text())["state"])
    except (ValueError, KeyError, TypeError):
        return None


def write_summary(sweep_dir: Path, rows: list[dict], keys: list[str], metric: str) -> None:
    """summary.csv: trial, state, each swept key, the metric, seconds, the run directory."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["trial", "state", *keys, metric, "duration_s", "run_dir", "error"])
    for row in rows:
        params = row["params"]
        value = row["value"] if row["state"] in ("finished", "pruned") else None
        seconds = None if row["seconds"] is None else round(row["seconds"], 2)
        cells = [
            row["number"],
            row["state"],
            *(params.get(k, "") for k in keys),
            value,
            seconds,
            row["run_dir"],
            row["error"],
        ]
        writer.writerow(["" if cell is None else cell for cell in cells])
    rundir.write_text(sweep_dir / SUMMARY, buffer.getvalue())


def write_best(sweep_dir: Path, trial_dir: Path, number: int, metric: str, value: float) -> None:
    """best.yaml: the best trial's whole config as a recipe (`dlcli train recipe=./best.yaml`);
    its runs go where --runs-dir (or the default) says, under the same run name."""
    config = yaml.safe_load((trial_dir / rundir.MARKER).read_text())
    config.get("run", {}).pop("dir", None)
    config["description"] = f"best trial ({number}) of sweep {sweep_dir}: {metric} {value:.6g}"
    text = f"# {config['description']}\n" + yaml.safe_dump(config, sort_keys=False, allow_unicode=True)
    rundir.write_text(sweep_dir / BEST, text)


def plots(study, sweep_dir: Path, metric: str) -> None:
    """Optuna's own plots, as PNGs: the optimisation history and the metric against each parameter."""
    from optuna.trial import TrialState

    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as optuna_plots

    out = sweep_dir / "plots"
    out.mkdir(exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna marks its matplotlib plots experimental
        drawn = {"history.png": optuna_plots.plot_optimization_history(study, target_name=metric)}
        if study.best_trial.params:
            drawn["params.png"] = optuna_plots.plot_slice(study, target_name=metric)
    for name, axes in drawn.items():
        figure = (axes.flat[0] if hasattr(axes, "flat") else axes).figure
        figure.set_size_inches(max(6.4, 4 * len(study.best_trial.params)), 4.8)
        with rundir.atomic_write(out / name) as tmp:
            figure.savefig(tmp, bbox_inches="tight")
        plt.close(figure)


def hparams(sweep_dir: Path, rows: list[dict], metric: str) -> None:
    """TensorBoard HParams records, one per trial with a value: `tensorboard --logdir SWEEP`."""
    from tensorboardX import SummaryWriter

    for row in rows:
        if row["value"] is None or row["state"] not in ("finished", "pruned"):
            continue
        folder = sweep_dir / "tensorboard" / str(row["number"])
        if folder.is_dir():
            continue  # written when the trial ended (a resumed sweep writes only its new ones)
        values: dict[str, Any] = {
            k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in row["params"].items()
        }
        with SummaryWriter(str(folder)) as writer:
            writer.add_hparams(values, {metric: float(row["value"])}, name=".")
