"""Benchmark: dlcli against a plain hand-written Keras script (not a test).

Trains seed 001's MNIST network with dropout for a few epochs, once through
`dlcli train recipe=mnist_dropout` and once through bench/plain_keras.py, with
the same data, batch size and seed, alternating the two a few times, and
prints the steady-epoch time ratio (median of epochs 2..N) and the whole-run
wall-clock ratio (process start to exit: imports, compile, data, saving).
Targets: steady epoch <= 1.03x, whole run <= 1.10x.

usage: python bench/run.py [--epochs 6] [--repeats 3]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(cmd: list[str], cwd: Path) -> float:
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(ROOT), "DLCLI_JAX_CACHE": "off"}
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    results = {"dlcli": {"epoch": [], "run": []}, "keras": {"epoch": [], "run": []}}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for i in range(args.repeats):
            for side in ("keras", "dlcli"):
                times = work / f"{side}-{i}.json"
                if side == "keras":
                    cmd = [sys.executable, str(ROOT / "bench" / "plain_keras.py"), str(args.epochs), str(times)]
                else:
                    cmd = [
                        sys.executable,
                        "-m",
                        "dlcli",
                        "train",
                        "recipe=mnist_dropout",
                        f"train.epochs={args.epochs}",
                        "plugins=[bench.timing]",
                        f"+callbacks.timer={{class: EpochTimer, path: '{times}'}}",
                    ]
                results[side]["run"].append(timed(cmd, work))
                results[side]["epoch"].append(statistics.median(json.loads(times.read_text())[1:]))
                print(
                    f"{side:6} repeat {i + 1}: steady epoch {results[side]['epoch'][-1]:.3f}s  whole run {results[side]['run'][-1]:.2f}s",
                    flush=True,
                )
    epoch = {s: statistics.median(r["epoch"]) for s, r in results.items()}
    run = {s: statistics.median(r["run"]) for s, r in results.items()}
    print(
        f"steady epoch: dlcli {epoch['dlcli']:.3f}s  keras {epoch['keras']:.3f}s  ratio {epoch['dlcli'] / epoch['keras']:.3f}x (target <= 1.03)"
    )
    print(
        f"whole run:    dlcli {run['dlcli']:.2f}s  keras {run['keras']:.2f}s  ratio {run['dlcli'] / run['keras']:.3f}x (target <= 1.10)"
    )


if __name__ == "__main__":
    main()
