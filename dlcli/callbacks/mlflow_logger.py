"""`MLflowLogger` (`callbacks=[mlflow]`, the `[mlflow]` extra): the run in MLflow, where users keep experiments.

At train begin it opens an MLflow run (experiment: the run's name) and logs the flattened config
as params; every epoch, the epoch's metrics; at train end, the last epoch's metrics again as
`final_<name>` and the run's files (config, overrides, env, summary, preprocessing, history,
`checkpoints/last.keras`). The MLflow run's id is kept in `<run>/mlflow/run_id`, so
`dlcli train --resume` goes on logging into the same MLflow run. A sweep's trials are children
of one parent run per sweep (`mlflow.parentRunId`), which the sweep opens.

`tracking_uri` is MLflow's: null is MLflow's own default (`$MLFLOW_TRACKING_URI`, else
`sqlite:///mlflow.db` in the current directory). From a config it must be a local store (a path,
`file:` or `sqlite:`): dlcli sends nothing off the machine from config, so a tracking server is
named by `MLFLOW_TRACKING_URI` in the environment.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import keras
import yaml

from dlcli.errors import ConfigError, Problem
from dlcli.runs import rundir, sweeps

LOCAL = ("file:", "sqlite:")
_SKIPPED = ("state", "mlflow", ".lock")  # the resume state is large and dlcli's own; the id file is this callback's


def parent_run(tracking_uri: str | None, experiment: str, name: str) -> str:
    """A sweep's parent run, under which each trial's run is logged."""
    client = _client(tracking_uri)
    run = client.create_run(_experiment(client, experiment), run_name=name, tags={"dlcli.sweep": name})
    return run.info.run_id


def end_parent(tracking_uri: str | None, run_id: str, finished: bool) -> None:
    """Close a sweep's parent run: FINISHED, or KILLED when the sweep stopped early (a resume reopens it)."""
    _client(tracking_uri).set_terminated(run_id, status="FINISHED" if finished else "KILLED")


def _client(tracking_uri: str | None):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri)


def _experiment(client, name: str) -> str:
    found = client.get_experiment_by_name(name)
    return found.experiment_id if found else client.create_experiment(name)


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
        if tracking_uri is not None and "://" in str(tracking_uri) and not str(tracking_uri).startswith(LOCAL):
            raise ConfigError(
                Problem(
                    "tracking_uri",
                    f"{tracking_uri!r} is a server: dlcli sends no run data off the machine from a config",
                    "name the server in the environment instead: export MLFLOW_TRACKING_URI=...",
                )
            )
        self.log_dir, self.tracking_uri, self.experiment = Path(log_dir), tracking_uri, experiment
        self.run_id: str | None = None

    def get_config(self) -> dict:
        return {"log_dir": str(self.log_dir), "tracking_uri": self.tracking_uri, "experiment": self.experiment}

    def on_train_begin(self, logs=None):
        from mlflow.entities import Param

        run_dir = self.log_dir.parent
        self.client = _client(self.tracking_uri)
        id_file = self.log_dir / "run_id"
        if id_file.is_file():  # a resumed run goes on in its MLflow run
            self.run_id = id_file.read_text().strip()
            self.client.update_run(self.run_id, status="RUNNING")
            return
        config = yaml.safe_load((run_dir / rundir.MARKER).read_text()) or {}
        name = self.experiment or str((config.get("run") or {}).get("name") or run_dir.parent.name)
        tags = {"dlcli.run_dir": str(run_dir.resolve())}
        sweep_dir = run_dir.parent.parent
        if run_dir.parent.name == "trials" and (sweep_dir / sweeps.SPEC).is_file():
            parent = sweeps.read_spec(sweep_dir).get("mlflow_parent")
            if parent:
                tags["mlflow.parentRunId"] = parent
        run = self.client.create_run(_experiment(self.client, name), run_name=run_dir.name, tags=tags)
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
