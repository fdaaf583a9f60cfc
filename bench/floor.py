"""How fast any training loop around Keras' step can be (not a test): the compute floor.

One process, a recipe's network (built by dlcli, not trained) on random data, and, alternating
epoch by epoch: plain `fit` at steps_per_execution 1 and 8 (and 8 unshuffled: the cost of
gathering each shuffled batch on the training thread), and the floor, Keras' own
`train_function` running the whole epoch in one execution on batches already converted to
device arrays (no callbacks, no slicing, no shuffling). Prints each one's median epoch with its
spread (min-max), the paired ratios to plain `fit` at 1, and the main thread's CPU seconds an
epoch (the Python work that, on a 2-core machine, competes with XLA's threads for the cores).
If the floor is not well under 0.85 of plain `fit`, no loop setting can reach that target.

usage: python bench/floor.py [--recipe mnist_dropout] [--samples 20000] [--batch 128] [--rounds 6]
"""

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

from bench.run import SHAPES  # noqa: E402


def network(recipe: str):
    from dlcli import lifecycle

    return lifecycle.build(lifecycle.prepare(recipe, [])).model


def compiled(model, steps: int):
    plain = keras.models.clone_model(model)
    plain.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"], steps_per_execution=steps)
    return plain


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipe", default="mnist_dropout", choices=sorted(SHAPES))
    parser.add_argument("--samples", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.random((args.samples, *SHAPES[args.recipe]), dtype=np.float32)
    y = keras.utils.to_categorical(rng.integers(0, 10, args.samples), 10)
    model = network(args.recipe)
    fits = {"fit, 1 step": compiled(model, 1), "fit, 8 steps": compiled(model, 8)}
    full = args.samples - args.samples % args.batch  # the floor skips the last, smaller batch
    batches = [
        (jax.device_put(x[s : s + args.batch]), jax.device_put(y[s : s + args.batch]))
        for s in range(0, full, args.batch)
    ]
    floor = compiled(model, len(batches))
    floor.fit(x[: args.batch], y[: args.batch], batch_size=args.batch, epochs=1, verbose=0)  # builds the optimizer
    floor.make_train_function()
    state = [
        list(v.value for v in group)
        for group in (
            floor.trainable_variables,
            floor.non_trainable_variables,
            floor.optimizer.variables,
            floor.metrics_variables,
        )
    ]

    def run_floor():
        nonlocal state
        _, state = floor.train_function(state, iter(batches))
        jax.block_until_ready(state)

    runs = {name: (lambda m=m: m.fit(x, y, batch_size=args.batch, epochs=1, verbose=0)) for name, m in fits.items()}
    unshuffled = fits["fit, 8 steps"]  # what gathering each shuffled batch costs (other batches: timing only)
    runs["fit, 8, in order"] = lambda: unshuffled.fit(x, y, batch_size=args.batch, epochs=1, verbose=0, shuffle=False)
    runs["floor"] = run_floor
    for run in runs.values():  # compiles
        run()
    wall = {name: [] for name in runs}
    cpu = {name: [] for name in runs}
    for i in range(args.rounds):
        for name in runs if i % 2 == 0 else reversed(runs):
            start, start_cpu = time.perf_counter(), time.thread_time()
            runs[name]()
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.thread_time() - start_cpu)
    base = wall["fit, 1 step"]
    for name in runs:
        w, c = wall[name], cpu[name]
        ratios = [a / b for a, b in zip(w, base)]
        print(
            f"{name:16} epoch {statistics.median(w):.3f} s ({min(w):.3f}-{max(w):.3f})  "
            f"x{statistics.median(ratios):.3f} ({min(ratios):.3f}-{max(ratios):.3f}) of fit at 1 step  "
            f"main thread {statistics.median(c):.3f} s CPU"
        )


if __name__ == "__main__":
    main()
