"""A non-editable install (a wheel) still finds the shipped recipes and config groups."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def test_wheel_carries_conf_and_recipes(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("dlcli-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "dlcli/_shipped/conf/config.yaml" in names
    assert "dlcli/_shipped/recipes/mnist_dropout.yaml" in names
    assert "dlcli/data/assets/mnist_5k.npz" in names

    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        check=True,
        timeout=300,
    )
    probe = (
        "import dlcli.paths as p; from dlcli.config import discover, compose;"
        "print(p.conf_dir()); print(sorted(discover())); print(compose('mnist_dropout', []).cfg.train.batch_size)"
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=tmp_path, check=True, timeout=120
    ).stdout
    conf_dir, recipes, batch = out.strip().splitlines()
    assert conf_dir.startswith(str(target))
    assert "mnist_dropout" in recipes and "digits_mlp" in recipes
    assert batch == "30"
