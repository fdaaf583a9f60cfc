"""optimizer.learning_rate is checked in one place, when the config is validated: a rate
that is not a finite number above 0 exits 2 naming the key, before any run directory
exists and before Keras is imported."""

import math

import pytest

from dlcli.config.schema import learning_rate_problem
from tests.cli.test_errors import run_cli

BAD = [
    ("nan", "expected a finite positive number, got nan"),
    ("inf", "expected a finite positive number, got inf"),
    ("-inf", "expected a finite positive number, got -inf"),
    ("1e999", "expected a finite positive number, got inf"),  # overflows to inf when parsed
    ("0", "expected a positive number, got 0"),
    ("0.0", "expected a positive number, got 0.0"),
    ("-0.01", "expected a positive number, got -0.01"),
    ("fast", "expected a number or a schedule {class: ExponentialDecay, ...}, got 'fast'"),
    ("true", "expected a number or a schedule {class: ExponentialDecay, ...}, got True"),
]


@pytest.mark.parametrize(("value", "message"), BAD, ids=[v for v, _ in BAD])
def test_a_bad_learning_rate_exits_2_before_a_run_directory_exists(cli, in_tmp, value, message):
    code, out, err = cli("train", "recipe=digits_mlp", "train.epochs=1", f"optimizer.learning_rate={value}")
    assert code == 2
    assert err.splitlines()[0] == f"error: optimizer.learning_rate: {message} (set on the command line)"
    assert not (in_tmp / "outputs").exists()


def test_nan_is_found_without_importing_keras():
    result = run_cli("train", "recipe=digits_mlp", "optimizer.learning_rate=nan")
    assert (
        result["code"] == 2
        and "error: optimizer.learning_rate: expected a finite positive number, got nan" in result["out"]
    )
    assert result["heavy"] == []


@pytest.mark.parametrize(
    "value",
    [0.001, 1, 1e-12, 1e6, {"class": "ExponentialDecay", "initial_learning_rate": 0.01}],
    ids=["small", "one", "tiny", "huge", "schedule"],
)
def test_good_learning_rates_pass(value):
    assert learning_rate_problem(value) is None


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 0, -1, None, "0.1", [0.1], False])
def test_bad_learning_rates_have_a_problem(value):
    assert learning_rate_problem(value)
