"""Keras-on-JAX set-up: the one place that imports Keras for the first time.

`KERAS_BACKEND` is read once, at Keras' first import, so it is set here before
anything else can import Keras. JAX's persistent compilation cache is on by
default so a second run of the same recipe compiles faster.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from dlcli import foreign, interrupt
from dlcli.errors import ConfigError, Problem

ENV_CACHE = "DLCLI_JAX_CACHE"  # a directory, or "off"


def cache_dir() -> Path | None:
    value = os.environ.get(ENV_CACHE, "")
    if value.lower() in ("off", "0", "none"):
        return None
    if value:
        return Path(value).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "dlcli" / "jax"


def setup():
    """Import Keras on the JAX backend, with the compilation cache; returns the keras module."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with interrupt.held():  # jaxlib's import calls back into Python from C++
        import jax
        import keras

    cache = cache_dir()
    if cache is not None:
        try:
            cache.mkdir(parents=True, exist_ok=True)
            jax.config.update("jax_compilation_cache_dir", str(cache))
            jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
        except OSError:
            pass  # a read-only home only costs compile time
    return keras


def seed_everything(seed: int) -> None:
    import keras

    keras.utils.set_random_seed(seed)


@contextlib.contextmanager
def precision(policy: str):
    """Build (or reload) a model under a Keras dtype policy (train.precision), then put the global one back.

    Keras stores each layer's policy in the saved model, so a reloaded model computes as it trained;
    under mixed_float16 its `compile` wraps the optimizer in a LossScaleOptimizer, as `fit` needs.
    """
    import keras

    before = keras.config.dtype_policy()
    keras.config.set_dtype_policy(str(policy))
    try:
        yield
    finally:
        keras.config.set_dtype_policy(before)


def outputs_in_float32(model) -> None:
    """Mixed precision computes in 16 bits, but a model's outputs (probabilities, regression values)
    stay float32, as Keras' mixed-precision guide has the last layer do."""
    import keras

    if model.dtype_policy.compute_dtype == "float32":
        return
    for tensor in model.outputs:
        tensor._keras_history.operation.dtype_policy = keras.DTypePolicy("float32")


@dataclass
class Placement:
    """Where a run's steps execute: `devices` share each batch; this process is `process` of `processes`."""

    devices: int = 1
    process: int = 0
    processes: int = 1

    @property
    def writes(self) -> bool:
        """Only process 0 writes the run directory and prints."""
        return self.process == 0


def distribute(dist, batch_size: int, join: bool = True, config: dict[str, str] | None = None) -> Placement:
    """Set keras.distribution from the `distribution` config; called before the model is built.

    Several processes join first (`keras.distribution.initialize`, before any JAX computation;
    on CPU through gloo collectives) with as many devices each, then compare their `config` (each
    process's sections, as text, but for its id): processes that differ would deadlock or fail mid-run.
    The batch size is global:
    it must divide by the devices the batch is split over, or a ConfigError names the nearest
    sizes that do. Without `join` (`dlcli check`), one of several processes builds on one device
    and waits for no other.
    """
    import jax
    import keras

    if _several(dist) and not join:
        keras.distribution.set_distribution(None)
        return Placement()

    if _several(dist) and not jax.distributed.is_initialized():
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        # gloo's C++ prints "[Gloo] Rank N is connected..." on fd 1 as it connects
        with _fd1_silenced(), interrupt.ending_the_process():
            try:
                keras.distribution.initialize(dist.coordinator, dist.num_processes, dist.process_id)
            except Exception as exc:
                if foreign.jax_cannot_serve(exc):
                    raise ConfigError(
                        Problem(
                            "distribution.coordinator",
                            "process 0 cannot listen there: the port is taken, or the host is not this machine",
                            "give every process a free port of process 0's machine",
                        )
                    ) from exc
                _same_device_counts(jax)  # Keras' set-up asserts it, and says nothing
                raise
            jax.devices()  # (the CPU client, and its gloo context, may be made at first use)
    placement = Placement(process=jax.process_index(), processes=jax.process_count())
    if placement.processes > 1 and join:
        _agree(config or {})
    devices = jax.devices()
    if dist.strategy == "single":
        keras.distribution.set_distribution(None)
        return placement
    split = _split(dist, devices)
    _divides(batch_size, split, dist.strategy)
    if dist.strategy == "data_parallel":
        made = keras.distribution.DataParallel(devices=devices[:split], auto_shard_dataset=False)
    else:
        wanted = math.prod(dist.mesh.values())
        mesh = keras.distribution.DeviceMesh(tuple(dist.mesh.values()), list(dist.mesh), devices[:wanted])
        layout = keras.distribution.LayoutMap(mesh)
        for rule, axes in dist.layout.items():
            layout[rule] = tuple(axes)
        made = keras.distribution.ModelParallel(
            layout_map=layout, batch_dim_name=dist.batch_axis, auto_shard_dataset=False
        )
    keras.distribution.set_distribution(made)
    placement.devices = split
    return placement


def _same_device_counts(jax) -> None:
    """Every process has as many devices (JAX's data-parallel set-up needs it): else refused, naming them."""
    try:
        counts = [len(jax.local_devices(process_index=i)) for i in range(jax.process_count())]
    except Exception:  # joined too little to tell
        return
    if len(set(counts)) > 1:
        raise ConfigError(
            Problem(
                "devices",
                "the processes have different numbers of devices: "
                + ", ".join(f"process {i} {n}" for i, n in enumerate(counts)),
                "give every process as many devices (the same XLA_FLAGS, CUDA_VISIBLE_DEVICES)",
            )
        )


def _agree(sections: dict[str, str]) -> None:
    """Every process was given the same config sections (digests gathered from all): else refused by
    all, naming the first section that differs."""
    import hashlib

    import numpy as np
    from jax.experimental import multihost_utils

    names = sorted(sections)
    mine = np.stack([np.frombuffer(hashlib.sha256(sections[n].encode()).digest(), np.uint8) for n in names])
    every = np.asarray(multihost_utils.process_allgather(mine))  # (processes, sections, 32)
    for p in range(1, len(every)):
        differ = [n for n, a, b in zip(names, every[p], every[0]) if not np.array_equal(a, b)]
        if differ:
            raise ConfigError(
                Problem(
                    differ[0],
                    f"process {p}'s {differ[0]} settings differ from process 0's",
                    "start every process with the same recipe and overrides (only distribution.process_id differs)",
                )
            )


def check(dist, batch_size: int) -> None:
    """What `distribute` needs of the devices and the batch size, checked without setting anything
    (a sweep checks every combination before its first trial). Several processes are checked as
    they join."""
    import jax

    if dist.strategy != "single" and not _several(dist):
        _divides(batch_size, _split(dist, jax.devices()), dist.strategy)


def _several(dist) -> bool:
    return dist.num_processes is not None or "KERAS_DISTRIBUTION_NUM_PROCESSES" in os.environ


def _split(dist, devices: list) -> int:
    """How many devices each batch is split over (after checking there are enough of them)."""
    if dist.strategy == "data_parallel":
        wanted = dist.devices or len(devices)
        _enough(wanted, devices, "distribution.devices")
        return wanted
    _enough(math.prod(dist.mesh.values()), devices, "distribution.mesh")
    return dist.mesh[dist.batch_axis]


def _divides(batch_size: int, split: int, strategy: str) -> None:
    if batch_size % split:
        lower = batch_size // split * split
        sizes = " or ".join(str(n) for n in (lower, lower + split) if n > 0)
        raise ConfigError(
            Problem(
                "train.batch_size",
                f"{batch_size} does not divide by the {split} devices each batch is split over ({strategy})",
                f"the batch size is global: try train.batch_size={sizes}"
                + (
                    f"; or (as a resumed run must, keeping its batch size) distribution.devices=N, N dividing {batch_size}"
                    if strategy == "data_parallel"
                    else ""
                ),
            )
        )


def _enough(wanted: int, devices: list, key: str) -> None:
    if wanted > len(devices) or wanted < 1:
        kind = devices[0].platform.upper()
        raise ConfigError(
            Problem(
                key,
                f"needs {wanted} devices; JAX sees {len(devices)} ({kind})",
                "on CPU, XLA_FLAGS=--xla_force_host_platform_device_count=N makes N host devices (`dlcli env` lists them)",
            )
        )


@contextlib.contextmanager
def _fd1_silenced():
    """File descriptor 1 to /dev/null (C and C++ code write there, bypassing sys.stdout), then back."""
    sys.stdout.flush()
    saved, devnull = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def process_zeros(value: float) -> float:
    """Process 0's `value` on every process: a choice made from a measurement (a step's time) must
    be the same in all of them, or their collectives stop matching."""
    import jax
    import numpy as np

    if jax.process_count() == 1:
        return value
    from jax.experimental import multihost_utils

    return float(multihost_utils.broadcast_one_to_all(np.float32(value)))


@contextlib.contextmanager
def undistributed(needed: bool = True):
    """Evaluate or predict on one device: a last batch that does not divide by the devices would
    stop Keras' data-parallel evaluate (keras-team/keras#21167), and no sample may be dropped there."""
    import keras

    before = keras.distribution.distribution()
    if needed and before is not None:
        keras.distribution.set_distribution(None)
    try:
        yield
    finally:
        keras.distribution.set_distribution(before)


def splits_evenly(samples: int, batch_size: int, devices: int) -> bool:
    """Every batch of `samples` (the last, partial one too) divides by `devices`."""
    return samples % batch_size % devices == 0


def describe_devices() -> list[dict]:
    """JAX's devices grouped by kind: how many, and each one's memory where the platform reports it."""
    import jax

    kinds: dict[tuple[str, str], dict] = {}
    for device in jax.devices():
        stats = device.memory_stats() or {}
        entry = kinds.setdefault(
            (device.platform, device.device_kind),
            {
                "platform": device.platform,
                "kind": device.device_kind,
                "count": 0,
                "memory_bytes": stats.get("bytes_limit"),
            },
        )
        entry["count"] += 1
    return list(kinds.values())


def cache_size(directory: Path | None) -> int:
    """Bytes in the compilation cache (0 when off or not made yet)."""
    if directory is None or not directory.is_dir():
        return 0
    return sum(f.stat().st_size for f in directory.rglob("*") if f.is_file())
