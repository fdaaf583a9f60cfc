"""Benchmark: dlcli against the plain Keras script a user would write (not a test).

Trains a recipe's network on random data (`--samples` of the recipe's input shape, 10
classes, no validation or test split), once through `dlcli train` with its defaults
(steps_per_execution auto, the compile cache warm as on a user's second run) and once
through bench/plain_keras.py (`compile` + `fit`, the same network re-initialised, data,
batch size, epochs and seed), alternating which goes first, `--repeats` times. Prints every
repeat, then the medians with their spread (min-max) and the paired ratios dlcli/keras, how
many repeats miss the targets, the fraction of the machine's matmul roofline each side
reaches, and a README table row ready to paste.

usage: python bench/run.py [--recipe mnist_dropout|residual_cnn] [--samples 20000]
                           [--batch 128] [--epochs 6] [--repeats 5]
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

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SHAPES = {"mnist_dropout": (784,), "residual_cnn": (8, 8, 1)}  # each recipe's input; 10 classes


def timed(cmd: list[str], cwd: Path, env: dict) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode:
        sys.exit(f"failed: {' '.join(cmd)}\n{done.stderr[-3000:]}")
    return seconds


def steady(epochs: list[float]) -> list[float]:
    """The epochs after the first (which compiles), less the last: it ends at `on_train_end`, after
    dlcli has written checkpoints/last.keras, which the plain script never does."""
    return epochs[1:-1] if len(epochs) > 2 else epochs[1:]


def spread(values: list[float], unit: str = "s", digits: int = 3) -> str:
    return f"{statistics.median(values):.{digits}f} {unit} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipe", default="mnist_dropout", choices=sorted(SHAPES))
    parser.add_argument("--samples", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--target-epoch", type=float, default=0.85)
    parser.add_argument("--target-run", type=float, default=0.90)
    args = parser.parse_args()
    if args.epochs < 3:
        parser.error("--epochs must be at least 3: the first compiles and the last is not steady (see steady())")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        rng = np.random.default_rng(args.seed)
        data = work / "data.npz"
        x = rng.random((args.samples, *SHAPES[args.recipe]), dtype=np.float32)
        np.savez(data, x=x, y=rng.integers(0, 10, args.samples))
        env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(ROOT), "DLCLI_JAX_CACHE": str(work / "cache")}
        peak = float(
            subprocess.run(
                [sys.executable, str(ROOT / "bench" / "flops.py")], env=env, capture_output=True, text=True, check=True
            ).stdout
        )

        def dlcli(name: str, epochs: int, times: Path | None = None) -> list[str]:
            cmd = [
                sys.executable,
                "-m",
                "dlcli",
                "-q",
                "train",
                f"recipe={args.recipe}",
                "data=npz",
                f"data.path={data}",
            ]
            cmd += ["data.val_split=0", "data.test_split=0", "train.evaluate_test=false", f"seed={args.seed}"]
            cmd += [
                f"train.batch_size={args.batch}",
                f"train.epochs={epochs}",
                f"run.dir={work / 'runs'}",
                f"run.name={name}",
            ]
            if times:
                cmd += ["plugins=[bench.timing]", f"+callbacks.timer={{class: EpochTimer, path: '{times}'}}"]
            return cmd

        timed(dlcli("warm", 1), work, env)  # fills the compile cache, and gives the network to the plain script
        (model,) = (work / "runs" / "warm").glob("*/model.keras")
        results = {"dlcli": {"epoch": [], "run": []}, "keras": {"epoch": [], "run": []}}
        flops = 0.0
        for i in range(args.repeats):
            for side in ("keras", "dlcli") if i % 2 == 0 else ("dlcli", "keras"):
                times = work / f"{side}-{i}.json"
                if side == "keras":
                    cmd = [sys.executable, str(ROOT / "bench" / "plain_keras.py"), str(model), str(data)]
                    cmd += [str(args.batch), str(args.epochs), str(args.seed), str(times)]
                else:
                    cmd = dlcli(f"run{i}", args.epochs, times)
                results[side]["run"].append(timed(cmd, work, env))
                found = json.loads(times.read_text())
                epochs = found["epochs"] if isinstance(found, dict) else found
                flops = found["flops_per_sample"] if isinstance(found, dict) else flops
                results[side]["epoch"].append(statistics.median(steady(epochs)))
                print(
                    f"repeat {i + 1} {side:6}: steady epoch {results[side]['epoch'][-1]:.3f} s  whole run {results[side]['run'][-1]:.2f} s",
                    flush=True,
                )
    d, k = results["dlcli"], results["keras"]
    epoch_ratios = [a / b for a, b in zip(d["epoch"], k["epoch"])]
    run_ratios = [a / b for a, b in zip(d["run"], k["run"])]
    epoch_ratio = statistics.median(d["epoch"]) / statistics.median(k["epoch"])
    run_ratio = statistics.median(d["run"]) / statistics.median(k["run"])
    missed_epoch = sum(r > args.target_epoch for r in epoch_ratios)
    missed_run = sum(r > args.target_run for r in run_ratios)
    work_per_epoch = flops * args.samples
    roof = {s: work_per_epoch / statistics.median(r["epoch"]) / peak for s, r in results.items()}
    print(
        f"steady epoch: dlcli {spread(d['epoch'])}  keras {spread(k['epoch'])}  ratio {epoch_ratio:.3f}x  "
        f"(per repeat {spread(epoch_ratios, 'x')}; {missed_epoch}/{args.repeats} miss <= {args.target_epoch})"
    )
    print(
        f"whole run:    dlcli {spread(d['run'], digits=2)}  keras {spread(k['run'], digits=2)}  ratio {run_ratio:.3f}x  "
        f"(per repeat {spread(run_ratios, 'x')}; {missed_run}/{args.repeats} miss <= {args.target_run})"
    )
    print(
        f"roofline: matmul peak {peak / 1e9:.1f} GFLOP/s; {flops / 1e6:.2f} MFLOP per training sample, "
        f"{work_per_epoch / 1e9:.2f} GFLOP per epoch: dlcli {roof['dlcli']:.1%}, keras {roof['keras']:.1%} of peak"
    )
    print("README row:")
    print(
        f"| `{args.recipe}`, batch {args.batch}, {args.samples:,} samples, `--epochs {args.epochs} --repeats {args.repeats}` "
        f"| {spread(d['epoch'])} / {spread(k['epoch'])} = **{epoch_ratio:.3f}×**; {missed_epoch}/{args.repeats} repeats miss ≤ {args.target_epoch} "
        f"| {spread(d['run'], digits=2)} / {spread(k['run'], digits=2)} = **{run_ratio:.3f}×**; {missed_run}/{args.repeats} miss ≤ {args.target_run} "
        f"| {roof['dlcli']:.1%} / {roof['keras']:.1%} |"
    )


if __name__ == "__main__":
    main()
