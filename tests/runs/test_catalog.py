"""`dlcli runs list` over runs made as dlcli makes them (staged, then named)."""

import json
import os

from dlcli.runs import rundir


def _run(folder, started):
    """A run directory whose env.json, written as a run starts, says it started at `started`."""
    staging = rundir.stage(folder.parent)
    rundir.write_text(staging / rundir.MARKER, "run: {name: r}\n")
    rundir.write_text(staging / rundir.OVERRIDES, "recipe: r.yaml\noverrides: []\n")
    rundir.write_json(staging / "env.json", {})
    os.utime(staging / "env.json", (started, started))
    return rundir.publish(staging, folder.name)


def test_runs_are_listed_in_the_order_they_started_not_by_name(tmp_path, cli):
    trials = tmp_path / "r" / "sweeps" / "2026-01-01_00-00-00" / "trials"
    for number in range(12):  # trial 10 started after trial 9, though "10" sorts before "9"
        _run(trials / str(number), 1_700_000_000 + 60 * number)
    _run(tmp_path / "r" / "2026-01-01_00-00-00", 1_700_000_000 + 30)  # started between trials 0 and 1
    code, out, err = cli("runs", "list", "--json", "--runs-dir", tmp_path)
    assert code == 0, err
    listed = [r["id"].rpartition("/")[2] for r in json.loads(out)]
    assert listed == ["0", "2026-01-01_00-00-00", *map(str, range(1, 12))]
