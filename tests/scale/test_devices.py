"""Several devices, simulated on CPU: XLA_FLAGS makes two host devices, read once when JAX starts,
so the runs happen in one subprocess (tests/scale/scenarios.py) and each test checks its part."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def found(tmp_path_factory):
    work = tmp_path_factory.mktemp("devices")
    flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=2".strip()
    env = {**os.environ, "XLA_FLAGS": flags, "PYTHONPATH": str(ROOT)}
    out = work / "found.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "scale" / "scenarios.py"), str(out), str(work)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text())


def close(a, b, tol=1e-5):
    return len(a) == len(b) and all(abs(x - y) <= tol * max(1.0, abs(x)) for x, y in zip(a, b))


def test_data_parallel_gives_the_single_device_curve(found):
    assert found["devices"] == 2
    single, dp = found["single"], found["data_parallel"]
    assert single["code"] == dp["code"] == 0
    assert (single["devices_used"], dp["devices_used"]) == (1, 2)  # env.json: of the devices listed, those used
    assert single["loss"][1] < single["loss"][0]
    assert close(dp["loss"], single["loss"])  # with auto steps per execution (8) against 1: speed changes no result
    for split in ("val", "test"):  # odd last batches, evaluated on one device: every sample counted
        assert close(list(dp["metrics"][split].values()), list(single["metrics"][split].values()))


def test_batch_size_must_divide_by_the_devices(found):
    odd = found["odd_batch"]
    assert odd["code"] == 2 and "dir" not in odd
    assert "train.batch_size: 31 does not divide by the 2 devices" in odd["err"]
    assert "try train.batch_size=30 or 32" in odd["err"]
    many = found["too_many"]
    assert many["code"] == 2 and "distribution.devices: needs 3 devices; JAX sees 2" in many["err"]


def test_a_sweep_meets_the_devices_before_its_trials(found):
    grid = found["sweep_grid"]
    assert grid["code"] == 2 and "combination 2 of 2 is refused, so no trial ran" in grid["err"]
    assert "31 does not divide by the 2 devices" in grid["err"] and not grid["made"]
    search = found["sweep_search"]
    assert search["code"] == 0, search["err"]
    header, *rows = [line.split(",") for line in search["summary"]]
    states = {row[header.index("train.batch_size")]: row[header.index("state")] for row in rows}
    assert {size for size, state in states.items() if state == "failed"} == {s for s in states if int(s) % 2}
    assert any(int(s) % 2 for s in states) and any(not int(s) % 2 for s in states), states  # both kinds drawn


def test_a_data_parallel_run_resumes_and_drops_what_cannot_divide(found):
    resumed = found["resumed"]
    assert "1 of 201 training samples left out" in resumed["first_err"]
    assert resumed[
        "single_code"
    ] == 2 and "the run trained each epoch on 200 samples of its training split; on 1" in " ".join(
        resumed["single_err"].split()
    ), resumed["single_err"]
    assert resumed["resume_code"] == 0, resumed["resume_err"]
    assert close(resumed["loss"], found["data_parallel"]["loss"])  # the same 200 samples, epoch 2 after a resume


def test_evaluate_and_predict_reload_a_data_parallel_run(found):
    assert found["evaluate"]["code"] == 0, found["evaluate"]["err"]
    assert found["predict"]["code"] == 0, found["predict"]["err"]


def test_model_parallel_trains(found):
    mp = found["model_parallel"]
    assert mp["code"] == 0, mp["err"]
    assert mp["loss"][1] < mp["loss"][0]


def test_a_layout_that_cannot_split_a_variable_is_refused_before_training(found):
    odd = found["mp_indivisible"]
    assert odd["code"] == 2 and "dir" not in odd  # no run directory
    assert odd["err"].splitlines() == [
        "error: model.nodes.dense1: Dense: its variable of shape (64, 33) cannot be split over 2 devices"
        " along axis 1 (33 does not divide by 2)",
        "hint: make that dimension a multiple of 2, or give it null in distribution.layout's rule",
    ]


def test_a_training_split_smaller_than_a_batch_trains_on_what_divides(found):
    tiny = found["tiny"]
    assert tiny["code"] == 0, tiny["err"]
    assert (
        "1 of 21 training samples left out, so that every batch divides by the 2 devices (one batch of 20)"
        in " ".join(tiny["err"].split())
    )


def test_a_layout_rule_that_matches_no_variable_is_refused(found):
    refused = found["mp_no_match"]
    assert refused["code"] == 2 and "distribution.layout.dense9: matches no variable of the model" in refused["err"]
    assert "dir" not in refused  # no run


def test_a_layout_rule_of_the_wrong_rank_is_blamed_not_the_node(found):
    refused = found["mp_rank"]
    assert refused["code"] == 2, refused["err"]
    assert "distribution.layout..*bias: gives 2 axes, but dense1/bias has 1 dimensions (32,)" in refused["err"]
    assert "model.nodes" not in refused["err"]
