"""Mistakes in `distribution` (and Keras' process variables) found before any device is touched: each
names where it was set, and a setting the strategy would ignore is refused rather than dropped."""

import pytest
from omegaconf import OmegaConf

from dlcli.config.schema import DistributionConfig, distribution_problems

DP, MESH = {"strategy": "data_parallel"}, {"strategy": "model_parallel", "mesh": {"batch": 1, "model": 2}}
MP = {**MESH, "layout": {".*kernel": [None, "model"]}}
JOINED = {"coordinator": "localhost:1234", "num_processes": 2, "process_id": 0}
ENV = {"KERAS_DISTRIBUTION_JOB_ADDRESSES": "localhost:1234", "KERAS_DISTRIBUTION_NUM_PROCESSES": "2"}

CASES = [
    # (id, distribution, environment, the key blamed, the start of its message)
    ("variables-on-single", {}, {**ENV, "KERAS_DISTRIBUTION_PROCESS_ID": "0"}, "distribution",
     "several processes (KERAS_DISTRIBUTION_NUM_PROCESSES=2) share one model only with data_parallel"),
    ("config-on-single", JOINED, {}, "distribution", "several processes (distribution.num_processes=2) share"),
    ("variable-id-not-a-number", DP, {**ENV, "KERAS_DISTRIBUTION_PROCESS_ID": "abc"},
     "KERAS_DISTRIBUTION_PROCESS_ID", "expected a whole number, got 'abc'"),
    ("variable-id-out-of-range", DP, {**ENV, "KERAS_DISTRIBUTION_PROCESS_ID": "5"},
     "KERAS_DISTRIBUTION_PROCESS_ID", "expected 0 to 1, got 5"),
    ("no-port", {**DP, **JOINED, "coordinator": "localhost"}, {}, "distribution.coordinator",
     "expected HOST:PORT, e.g. localhost:12345, got 'localhost'"),
    ("port-past-65535", {**DP, **JOINED, "coordinator": "localhost:99999"}, {}, "distribution.coordinator",
     "expected HOST:PORT"),
    ("no-processes", {**DP, **JOINED, "num_processes": 0}, {}, "distribution.num_processes",
     "expected at least 1 process, got 0"),
    ("devices-on-single", {"devices": 2}, {}, "distribution.devices",
     "picks how many devices data_parallel splits each batch over; this run is single"),
    ("devices-on-model-parallel", {**MP, "devices": 4}, {}, "distribution.devices", "picks how many devices"),
    ("no-devices", {**DP, "devices": 0}, {}, "distribution.devices", "expected a positive number of devices, got 0"),
    ("mesh-on-data-parallel", {**DP, "mesh": {"batch": 1, "model": 2}}, {}, "distribution.mesh",
     "a device mesh and layout rules shard a model_parallel run; this run is data_parallel"),
    ("layout-on-data-parallel", {**DP, "layout": {"x": ["model"]}}, {}, "distribution.layout", "a device mesh"),
    ("no-layout", MESH, {}, "distribution.layout",
     "model_parallel shards the variables its layout rules match, and there are none"),
    ("empty-mesh-axis", {**MP, "mesh": {"batch": 0, "model": 2}}, {}, "distribution.mesh.batch",
     "expected a positive number of devices, got 0"),
]  # fmt: skip


@pytest.mark.parametrize("dist, env, key, message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_distribution_mistake_is_named_where_it_was_set(dist, env, key, message):
    found = distribution_problems(OmegaConf.merge(OmegaConf.structured(DistributionConfig), dist), env)
    assert any(k == key and m.startswith(message) for k, m, _ in found), found


@pytest.mark.parametrize(
    "dist, env", [(DP, {}), (MP, {}), ({**DP, **JOINED}, {}), (DP, {**ENV, "KERAS_DISTRIBUTION_PROCESS_ID": "1"})]
)
def test_what_each_strategy_takes_passes(dist, env):
    assert distribution_problems(OmegaConf.merge(OmegaConf.structured(DistributionConfig), dist), env) == []
