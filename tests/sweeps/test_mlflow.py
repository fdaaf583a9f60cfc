"""callbacks=[mlflow] against a real local MLflow store, read back with MLflow's own client:
a sweep logs one MLflow run per trial under one parent."""

import json

import pytest

from tests.sweeps.conftest import FAST

pytestmark = pytest.mark.slow


def test_sweep_trials_are_child_runs_in_mlflow(cli, in_tmp):
    from mlflow import MlflowClient

    code, _, stderr = cli(
        "sweep", "recipe=digits_mlp", "train.epochs=2", *FAST, "optimizer.learning_rate=0.001,0.01",
        "callbacks=mlflow", "-q",
    )  # fmt: skip
    assert code == 0, stderr
    assert sorted(p.name for p in in_tmp.iterdir()) == ["outputs"]  # the store and artifacts are in run.dir
    code, out, _ = cli("runs", "list", "--json")  # MLflow's copies of the trials' files are no runs
    assert code == 0 and len(json.loads(out)) == 2
    client = MlflowClient(tracking_uri=f"sqlite:///{in_tmp / 'outputs' / '.mlflow' / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("digits_mlp").experiment_id])
    (parent,) = [r for r in runs if "dlcli.sweep" in r.data.tags]
    assert parent.info.status == "FINISHED" and parent.info.end_time  # the sweep closed it
    children = sorted((r for r in runs if r is not parent), key=lambda r: r.data.params["optimizer.learning_rate"])
    assert [r.data.params["optimizer.learning_rate"] for r in children] == ["0.001", "0.01"]
    for child in children:
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert child.info.status == "FINISHED"
        assert child.data.params["train.epochs"] == "2" and child.data.params["model.nodes.dense1.units"]
        history = client.get_metric_history(child.info.run_id, "val_loss")
        assert [m.step for m in history] == [1, 2]
        assert child.data.metrics["final_val_loss"] == pytest.approx(history[-1].value)
        assert {"config.yaml", "history.csv", "checkpoints"} <= {
            a.path for a in client.list_artifacts(child.info.run_id)
        }


@pytest.mark.parametrize(
    "uri, said",
    [
        ("http://example.org", "is a server"),
        ("sqlite:////tmp/elsewhere.db", "is outside run.dir"),
        ("sqlite:///../up.db", "is outside run.dir"),
        ("file:///tmp/mlruns", "is not a sqlite store"),
        ("sqlite:///notes.db", "is outside run.dir"),
    ],
)
def test_a_store_outside_run_dir_in_a_config_is_refused(cli, in_tmp, uri, said):
    code, _, stderr = cli("check", "recipe=digits_mlp", "callbacks=mlflow", f"callbacks.mlflow.tracking_uri={uri}")
    assert code == 2 and said in stderr
    assert "MLFLOW_TRACKING_URI" in stderr or "sqlite:///PATH.db" in stderr
    assert not (in_tmp.parent / "up.db").exists() and not list(in_tmp.iterdir())
