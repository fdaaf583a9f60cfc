"""`MLflowLogger` (`callbacks=[mlflow]`, the `[mlflow]` extra): the run in MLflow, where users keep experiments.

At train begin it opens an MLflow run (experiment: the run's name) and logs the flattened config
as params; every epoch, the epoch's metrics; at train end, the last epoch's metrics again as
`final_<name>` and the run's files (config, overrides, env, summary, preprocessing, history,
`checkpoints/last.keras`). The MLflow run's id is kept in `<run>/mlflow/run_id`, so
`dlcli train --resume` goes on logging into the same MLflow run. A sweep's trials are children
of one parent run per sweep (`mlflow.parentRunId`), which the sweep opens.

`tracking_uri` is MLflow's. Null: `$MLFLOW_TRACKING_URI` where the user set it, else
`sqlite:///<run.dir>/.mlflow/mlflow.db` with artifacts in `<run.dir>/.mlflow/artifacts` (hidden,
so the run files copied there are never taken for runs), so that nothing is written outside the
runs directory. From a config it must be a `sqlite:///` file under run.dir (MLflow's
file store is in maintenance mode): dlcli sends nothing off the machine, and writes nowhere else,
from a config; a tracking server or a store elsewhere is named by `MLFLOW_TRACKING_URI`.
"""

from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path

import keras
import yaml

from dlcli.errors import ConfigError, Problem
from dlcli.runs import rundir, sweeps

SQLITE = "sqlite:///"
STORE = ".mlflow"  # hidden: the copies of run files MLflow keeps as artifacts are never taken for runs
_SKIPPED = ("state", "mlflow", ".lock")  # the resume state is large and dlcli's own; the id file is this callback's


def store(tracking_uri: str | None, runs_dir: str | Path) -> tuple[str | None, Path | None]:
    """The tracking URI a run logs to, and the folder of its artifacts (None: MLflow's choice, under
    the user's $MLFLOW_TRACKING_URI)."""
    if tracking_uri is None and os.environ.get("MLFLOW_TRACKING_URI"):
        return None, None
    if tracking_uri is None:
        root = Path(runs_dir).resolve() / STORE
        root.mkdir(parents=True, exist_ok=True)  # (sqlite makes the file, not its folder)
        return f"{SQLITE}{root / 'mlflow.db'}", root / "artifacts"
    return tracking_uri, Path(tracking_uri.removeprefix(SQLITE)).resolve().parent / STORE / "artifacts"


def check_store(tracking_uri: str | None, runs_dir: str | Path, key: str) -> None:
    """A store named in a config is a sqlite file under run.dir: nothing is written elsewhere from a config."""
    if tracking_uri is None or not str(tracking_uri).startswith(
        SQLITE
    ):  # (any other is refused as the callback is made)
        return
    root, db = Path(runs_dir).resolve(), Path(tracking_uri.removeprefix(SQLITE)).resolve()
    hint = (
        f"leave it null ({SQLITE}{root / STORE / 'mlflow.db'}), or name a store of your own in the environment: "
        "export MLFLOW_TRACKING_URI=..."
    )
    if not db.is_relative_to(root) or db == root:
        raise ConfigError(
            Problem(key, f"{tracking_uri!r} is outside run.dir ({root}): a config writes only there", hint)
        )
    run = next((p for p in db.parents if p.is_relative_to(root) and (p / rundir.MARKER).is_file()), None)
    if run is not None:
        raise ConfigError(Problem(key, f"{tracking_uri!r} is inside the run {run}, whose files are dlcli's", hint))
    if db.is_file() and db.open("rb").read(16) != b"SQLite format 3\x00":
        raise ConfigError(Problem(key, f"{db} exists and is not a SQLite database, which MLflow would write to", hint))


def parent_run(tracking_uri: str | None, artifacts: Path | None, experiment: str, name: str) -> str:
    """A sweep's parent run, under which each trial's run is logged."""
    client = _client(tracking_uri)
    run = client.create_run(_experiment(client, experiment, artifacts), run_name=name, tags={"dlcli.sweep": name})
    return run.info.run_id


def end_parent(tracking_uri: str | None, run_id: str, finished: bool) -> None:
    """Close a sweep's parent run: FINISHED, or KILLED when the sweep stopped early (a resume reopens it)."""
    _client(tracking_uri).set_terminated(run_id, status="FINISHED" if finished else "KILLED")


def _client(tracking_uri: str | None):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri)


def _experiment(client, name: str, artifacts: Path | None) -> str:
    found = client.get_experiment_by_name(name)
    if found:
        return found.experiment_id
    return client.create_experiment(name, artifact_location=str(artifacts) if artifacts else None)


def _flatten(value, prefix: str = "") -> dict[str, str]:
    if isinstance(value, dict) and value:
        flat: dict[str, str] = {}
        for k, v in value.items():
            flat.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return flat
    return {prefix: str(value)[:6000]} if prefix else {}


@keras.saving.register_keras_serializable(package="dlcli")
class MLflowLogger(keras.callbacks.Callback):
    def __init__(self, log_dir: str = "mlflow", tracking_uri: str | None = None, experiment: str | None = None):
        super().__init__()
        if importlib.util.find_spec("mlflow") is None:
            raise ConfigError(Problem("class", "MLflowLogger needs MLflow", 'install it: pip install "dlcli[mlflow]"'))
        if (
            tracking_uri is not None
            and "://" in str(tracking_uri)
            and not str(tracking_uri).startswith(("file:", SQLITE))
        ):
            raise ConfigError(
                Problem(
                    "tracking_uri",
                    f"{tracking_uri!r} is a server: dlcli sends no run data off the machine from a config",
                    "name the server in the environment instead: export MLFLOW_TRACKING_URI=...",
                )
            )
        if tracking_uri is not None and not str(tracking_uri).startswith(SQLITE):
            raise ConfigError(
                Problem(
                    "tracking_uri",
                    f"{tracking_uri!r} is not a sqlite store: MLflow's file store is in maintenance mode",
                    "leave it null (a sqlite store in run.dir), or write sqlite:///PATH.db under run.dir",
                )
            )
        self.log_dir, self.tracking_uri, self.experiment = Path(log_dir), tracking_uri, experiment
        self.run_id: str | None = None

    def get_config(self) -> dict:
        return {"log_dir": str(self.log_dir), "tracking_uri": self.tracking_uri, "experiment": self.experiment}

    def on_train_begin(self, logs=None):
        from mlflow.entities import Param

        run_dir = self.log_dir.parent
        config = yaml.safe_load((run_dir / rundir.MARKER).read_text()) or {}
        uri, artifacts = store(self.tracking_uri, (config.get("run") or {}).get("dir") or "outputs")
        self.client = _client(uri)
        id_file = self.log_dir / "run_id"
        if id_file.is_file():  # a resumed run goes on in its MLflow run
            self.run_id = id_file.read_text().strip()
            self.client.update_run(self.run_id, status="RUNNING")
            return
        name = self.experiment or str((config.get("run") or {}).get("name") or run_dir.parent.name)
        tags = {"dlcli.run_dir": str(run_dir.resolve())}
        sweep_dir = run_dir.parent.parent
        if run_dir.parent.name == "trials" and (sweep_dir / sweeps.SPEC).is_file():
            parent = sweeps.read_spec(sweep_dir).get("mlflow_parent")
            if parent:
                tags["mlflow.parentRunId"] = parent
        run = self.client.create_run(_experiment(self.client, name, artifacts), run_name=run_dir.name, tags=tags)
        self.run_id = run.info.run_id
        rundir.write_text(id_file, self.run_id)
        params = [Param(k, v) for k, v in _flatten(config).items()]
        for start in range(0, len(params), 100):  # MLflow takes at most 100 params a batch
            self.client.log_batch(self.run_id, params=params[start : start + 100])

    def on_epoch_end(self, epoch, logs=None):
        self._metrics(logs or {}, epoch + 1)

    def on_train_end(self, logs=None):
        self._metrics({f"final_{k}": v for k, v in (logs or {}).items()}, None)
        run_dir = self.log_dir.parent
        for path in sorted(run_dir.rglob("*")):
            relative = path.relative_to(run_dir)
            if path.is_file() and relative.parts[0] not in _SKIPPED and not path.name.startswith("."):
                folder = str(relative.parent) if relative.parent != Path(".") else None
                self.client.log_artifact(self.run_id, str(path), folder)
        self.client.set_terminated(self.run_id)

    def _metrics(self, logs: dict, step: int | None) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        values = [
            Metric(k, float(v), now, step or 0)
            for k, v in logs.items()
            if isinstance(v, (int, float)) or hasattr(v, "item")
        ]
        if values:
            self.client.log_batch(self.run_id, metrics=values)
