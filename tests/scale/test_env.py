"""dlcli env: the machine and the settings a run would use."""

import json
import os
from pathlib import Path

import jax
import keras


def test_env_reports_the_machine(cli):
    code, out, _ = cli("env", "--json")
    assert code == 0
    found = json.loads(out)
    assert found["backend"] == "jax" and found["keras"] == keras.__version__ and found["jax"] == jax.__version__
    assert sum(d["count"] for d in found["devices"]) == len(jax.devices())
    assert Path(found["compile_cache"]["dir"]) == Path(os.environ["DLCLI_JAX_CACHE"])  # tests/conftest.py's
    assert found["distribution"] == {"strategy": "single"}


def test_env_shows_what_a_run_would_use(cli):
    code, out, _ = cli(
        "env", "recipe=digits_mlp", "distribution=data_parallel", "train.precision=mixed_bfloat16", "--json"
    )
    assert code == 0
    found = json.loads(out)
    assert found["distribution"] == {"strategy": "data_parallel", "devices": "all"}
    assert found["precision"] == "mixed_bfloat16"
    code, _, err = cli("env", "recipe=digits_mlp", "distribution.process_id=1")
    assert code == 2 and "several processes need the coordinator, num_processes and process_id" in err
    code, _, err = cli("env", "recipe=digits_mlp", "distribution=model_parallel")  # one CPU device here
    assert code == 2 and "distribution.mesh: needs 2 devices; JAX sees 1" in err


def test_check_builds_one_of_several_processes_without_waiting_for_the_others(cli):
    several = ["distribution.coordinator=localhost:1", "distribution.num_processes=2", "distribution.process_id=1"]
    code, out, err = cli("check", "recipe=digits_mlp", "distribution=data_parallel", *several, "--json")
    assert code == 0, err  # (joining would wait, then abort: nothing listens on port 1)
    assert json.loads(out)["total_params"] == 3466


def test_only_several_processes_wait_to_join_and_keras_count_must_be_a_number(cli, monkeypatch):
    from omegaconf import OmegaConf

    from dlcli import lifecycle

    def dist(n):
        return OmegaConf.create({"distribution": {"num_processes": n, "process_id": 0, "coordinator": "h:1"}})

    assert lifecycle.joining(dist(1)) is None
    assert lifecycle.joining(dist(2)).startswith("process 0 of 2: waiting for all 2 to join at h:1")
    monkeypatch.setenv("KERAS_DISTRIBUTION_NUM_PROCESSES", "two")
    code, _, err = cli("check", "recipe=digits_mlp")
    assert code == 2 and "KERAS_DISTRIBUTION_NUM_PROCESSES: expected a whole number, got 'two'" in err
