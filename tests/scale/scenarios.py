"""Runs on two simulated host devices, in one process started with XLA_FLAGS (JAX reads it once).

`python tests/scale/scenarios.py OUT.json` trains tiny digits runs through the CLI and writes what
tests/scale/test_devices.py checks: exit codes, messages, each run's history and metrics.
"""

import json
import os
import sys
from pathlib import Path

from typer.testing import CliRunner

from dlcli.cli import app

BASE = ["recipe=digits_mlp", "data.limit=200", "train.epochs=2", "train.batch_size=32", "seed=3"]


def cli(*args):
    result = CliRunner().invoke(app, ["-q", *map(str, args)], catch_exceptions=False)
    return result.exit_code, result.stderr


def run(name: str, *overrides) -> dict:
    code, err = cli("train", *BASE, f"run.name={name}", *overrides)
    return {"code": code, "err": err, **read(name)}


def read(name: str) -> dict:
    """The newest run named `name`: its directory, loss per epoch and metrics."""
    found = sorted(Path("outputs", name).glob("2*"))
    out = {}
    if found:
        run_dir = found[-1]
        out["dir"] = str(run_dir)
        history = (run_dir / "history.csv").read_text().splitlines()
        out["loss"] = [float(row.split(",")[history[0].split(",").index("loss")]) for row in history[1:]]
        out["devices_used"] = json.loads((run_dir / "env.json").read_text())["devices_used"]
        if (run_dir / "metrics.json").is_file():
            out["metrics"] = json.loads((run_dir / "metrics.json").read_text())
    return out


def main(target: str) -> None:
    import jax

    found = {"devices": len(jax.devices())}
    # val (159) and test (361) splits whose last batch of 32 is odd: evaluated on one device
    ragged = ["data.val_split=0.11", "data.test_split=0.201"]
    found["single"] = run("single", *ragged, "train.steps_per_execution=1")
    found["data_parallel"] = run("dp", *ragged, "distribution=data_parallel")  # and auto steps per execution
    found["odd_batch"] = run("odd", "distribution=data_parallel", "train.batch_size=31")
    found["too_many"] = run("many", "distribution=data_parallel", "distribution.devices=3")
    # 201 training samples: the last is left out, so the batches are the 200 of the runs above
    first = run("resumed", *ragged, "distribution=data_parallel", "data.limit=201", "train.epochs=1")
    # on one device the left-out sample would be trained on: refused, and the run resumes as it was
    single = cli("train", "--resume", first["dir"], "train.epochs=2", "distribution=single")
    code, err = cli("train", "--resume", first["dir"], "train.epochs=2")
    found["resumed"] = {**read("resumed"), "first_err": first["err"], "resume_code": code, "resume_err": err}
    found["resumed"]["single_code"], found["resumed"]["single_err"] = single
    for command in ("evaluate", "predict"):
        code, err = cli(command, found["data_parallel"]["dir"])
        found[command] = {"code": code, "err": err}
    # a grid's odd batch size is refused before its first trial; a search's odd draw fails only its trial
    code, err = cli("sweep", *BASE[:2], "train.epochs=1", "distribution=data_parallel", "train.batch_size=32,31")
    found["sweep_grid"] = {"code": code, "err": err, "made": Path("outputs", "digits_mlp", "sweeps").exists()}
    code, err = cli(
        "sweep", *BASE[:2], "train.epochs=1", "distribution=data_parallel", "train.batch_size=int(interval(16,20))",
        "--search", "random", "--trials", "4", "--runs-dir", "searched",
    )  # fmt: skip
    summary = next(Path("searched").rglob("summary.csv")).read_text().splitlines()
    found["sweep_search"] = {"code": code, "err": err, "summary": summary}
    found["model_parallel"] = run("mp", "distribution=model_parallel", "optimizer.learning_rate=0.01")
    found["tiny"] = run("tiny", "distribution=data_parallel", "data.limit=21", "data.stratify=false")  # < a batch
    found["mp_indivisible"] = run("mp_odd", "distribution=model_parallel", "model.nodes.dense1.units=33")
    found["mp_no_match"] = run("mp_none", "distribution=model_parallel", "+distribution.layout.dense9=[null,model]")
    Path("mp_rank.yaml").write_text(  # a rule of two axes for the biases' one dimension
        "defaults: [{override /model: digits_mlp}, {override /data: digits}, {override /distribution: model_parallel}]\n"
        "distribution: {layout: {'.*bias': [null, model]}}\n"
    )
    code, err = cli("train", "recipe=./mp_rank.yaml", "data.limit=200", "train.epochs=1")
    found["mp_rank"] = {"code": code, "err": err}
    Path(target).write_text(json.dumps(found))


if __name__ == "__main__":
    os.chdir(sys.argv[2])
    main(sys.argv[1])
