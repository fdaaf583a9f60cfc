"""Typed schema of a dlcli config, registered in Hydra's ConfigStore.

Everything that is dlcli's own (data, training, runs) is a dataclass, so wrong
types and unknown keys fail at compose time. What is passed verbatim to Keras
(graph nodes, callbacks' and optimizers' keyword arguments) stays an open
mapping and is checked against the Keras signatures by `dlcli.config.validate`
and `dlcli.graph`: OmegaConf cannot type a union of dataclasses.

Closed sets of option strings are Enums (`Scaler`, `Labels`, `Side`), so
OmegaConf refuses any other value at compose time; a saved config holds their
plain strings and loads back into them. `data.source` stays a string: sources
are a registry (`dlcli.data.sources.register`), checked against its names with
a did-you-mean.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from dlcli.data.preprocess import Choice, Labels, Scaler, Side


@dataclass
class PreprocessConfig:
    # Reshape every sample of the (single) input to this shape, e.g. [784].
    reshape: Optional[List[int]] = None
    # Divide features by this number (MNIST pixels: 255).
    divide_by: Optional[float] = None
    # Feature scaler fit on the training split only: none | standard | minmax.
    scaler: Scaler = Scaler.none
    # Target scaler for regression (predictions are reported in original units).
    target_scaler: Scaler = Scaler.none
    # Target kind: auto (from the loss and the data) | one_hot | sparse (ids) | soft | multihot | none (as they are).
    labels: Labels = Labels.auto
    # Binary targets from a multi-class column: this label becomes 1, every other 0
    # (seed 001's seizure data: class 1 against the rest).
    positive: Optional[Any] = None
    # Pad or truncate integer sequences to this length, at the start (pre) or end (post).
    maxlen: Optional[int] = None
    padding: Side = Side.pre
    truncating: Side = Side.pre


@dataclass
class DataConfig:
    # mnist, fashion_mnist, cifar10, cifar100, imdb, reuters, boston_housing (Keras'
    # loaders), digits, breast_cancer, iris, wine, diabetes (scikit-learn), npz,
    # csv or synthetic.
    source: str = "synthetic"
    # One file (or, with stream, a directory or glob of files) split by the
    # fractions below; for Keras' sets, a local copy instead of the download.
    path: Optional[str] = None
    # Separate files for the splits (the seeds' train/val/test CSVs).
    train_path: Optional[str] = None
    val_path: Optional[str] = None
    test_path: Optional[str] = None
    # Where the data file comes from, said when it is missing.
    origin: Optional[str] = None
    # csv columns or npz arrays holding the features and the target: a name, an
    # index, a list, or a slice such as "0:9"; for a model with several inputs
    # (outputs), a mapping from each input (output) name to one of those.
    features: Any = None
    target: Any = None
    # csv: whether the first row names the columns (false: columns are 0, 1, ...).
    header: bool = True
    delimiter: str = ","
    # Use only the first N training samples.
    limit: Optional[int] = None
    # test_split: the fraction of all samples held out for testing; val_split: the
    # fraction of the rest held out for validation (as Keras' validation_split).
    val_split: float = 0.1
    test_split: float = 0.2
    # Stratify fraction splits and K-fold by class (classification outputs only).
    stratify: bool = True
    # Seed of the splits and of the data's shuffling (default: the run's `seed`), so runs that
    # differ in `seed` alone can share one split (ensemble members do).
    seed: Optional[int] = None
    # Read npz/csv files batch by batch (keras.utils.PyDataset) instead of into memory.
    stream: bool = False
    # Threads preparing streamed batches off the training thread (1: on it).
    workers: int = 2
    # Samples of synthetic data (the seeds' random-data examples, and --smoke).
    samples: int = 256
    # Length of sequence inputs declared with a None dimension.
    sequence_length: int = 16
    # Keyword arguments of the source's loader (keras.datasets.imdb: num_words, ...).
    options: Dict[str, Any] = field(default_factory=dict)
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)


@dataclass
class OptimizerConfig:
    # A Keras optimizer by its Keras name: adam, sgd, rmsprop, adamw, ...
    name: str = "adam"
    # A number, or a Keras learning-rate schedule as {class: ..., ...} (see learning_rate_problem).
    learning_rate: Any = 0.001
    # Any other keyword argument of the optimizer (momentum, beta_1, clipnorm, ...).
    options: Dict[str, Any] = field(default_factory=dict)


class Precision(Choice):
    """Keras dtype policies: variables stay float32; mixed_* compute in 16 bits (outputs in float32)."""

    float32 = "float32"
    mixed_bfloat16 = "mixed_bfloat16"
    mixed_float16 = "mixed_float16"


class Strategy(Choice):
    single = "single"
    data_parallel = "data_parallel"
    model_parallel = "model_parallel"


@dataclass
class TrainConfig:
    epochs: int = 10
    batch_size: int = 32
    shuffle: bool = True
    # Evaluate on the test split at the end of training.
    evaluate_test: bool = True
    # K-fold cross-validation: K trainings into fold-1/ ... fold-K/ of one run,
    # each validated on its held-out fold (stratified when data.stratify).
    kfold: int = 0
    # Train only this fold (1..kfold) as a plain run; each fold-k/ records it.
    fold: Optional[int] = None
    # Train N members (seeds seed, seed+1, ...; the data split stays the one of `seed`) and
    # average them into one run (dlcli ensemble); with kfold=K, N=K averages the fold models.
    ensemble: int = 0
    # Keras dtype policy; saved with the model, so evaluate, predict and export reload it.
    precision: Precision = Precision.float32
    # Training steps per callback round trip: a positive number, or auto (1 when a
    # callback reads every batch: LossHistory, TensorBoard's update_freq).
    steps_per_execution: str = "auto"


@dataclass
class DistributionConfig:
    """Where a run's steps execute (conf/distribution/): keras.distribution over JAX's devices."""

    # single (one device), data_parallel (DataParallel), model_parallel (ModelParallel).
    strategy: Strategy = Strategy.single
    # data_parallel: how many devices (null: every device JAX sees).
    devices: Optional[int] = None
    # model_parallel: the device mesh, axis name -> size (the sizes multiply to the device count)...
    mesh: Dict[str, int] = field(default_factory=dict)
    # ...the mesh axis the batch is split over...
    batch_axis: str = "batch"
    # ...and the layout rules: a regex of variable paths -> one mesh axis (or null) per dimension.
    layout: Dict[str, List[Optional[str]]] = field(default_factory=dict)
    # Several processes (keras.distribution.initialize): the coordinator's HOST:PORT, how many
    # processes, and this one's id (0 writes the run directory and prints). Unset: Keras reads
    # KERAS_DISTRIBUTION_JOB_ADDRESSES, _NUM_PROCESSES and _PROCESS_ID, if set.
    coordinator: Optional[str] = None
    num_processes: Optional[int] = None
    process_id: Optional[int] = None


@dataclass
class RunConfig:
    # Root of run directories; each run gets <dir>/<name>/<timestamp>[-N]/.
    dir: str = "outputs"
    # Defaults to the recipe's name.
    name: Optional[str] = None


@dataclass
class Config:
    description: str = ""
    seed: int = 42
    model: Dict[str, Any] = field(default_factory=dict)
    data: DataConfig = field(default_factory=DataConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    distribution: DistributionConfig = field(default_factory=DistributionConfig)
    # name -> {class: <Keras or dlcli callback>, ...keyword arguments}
    callbacks: Dict[str, Any] = field(default_factory=dict)
    # Modules imported before building, so their registered layers, losses and
    # metrics can be named in the config.
    plugins: List[str] = field(default_factory=list)
    run: RunConfig = field(default_factory=RunConfig)


def learning_rate_problem(value: Any) -> str | None:
    """What is wrong with a learning rate, or None: the one rule for optimizer.learning_rate
    (checked by `dlcli.config.validate`, before any run directory exists) and for the rates a
    schedule callback gives. A rate is a finite number above 0; `{class: ...}` is a Keras
    schedule, whose class and arguments are checked when the optimizer is built."""
    if isinstance(value, Mapping):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"expected a number or a schedule {{class: ExponentialDecay, ...}}, got {value!r}"
    if not math.isfinite(value):
        return f"expected a finite positive number, got {value}"
    if value <= 0:
        return f"expected a positive number, got {value}"
    return None


def steps_problem(value: str) -> str | None:
    """What is wrong with train.steps_per_execution, or None."""
    if value == "auto" or (value.isdigit() and int(value) > 0):
        return None
    return f"expected auto or a positive number of steps, got {value!r}"


# Keras' own variables for several processes (keras.distribution.initialize reads them when the config is unset).
PROCESS_VARIABLES = {
    "coordinator": "KERAS_DISTRIBUTION_JOB_ADDRESSES",
    "num_processes": "KERAS_DISTRIBUTION_NUM_PROCESSES",
    "process_id": "KERAS_DISTRIBUTION_PROCESS_ID",
}


def processes(dist, env: Mapping[str, str]) -> dict[str, tuple[str, Any]]:
    """The process settings in effect, each as (where it was set, its value): the config's, else Keras' variable."""
    found = {}
    for key, variable in PROCESS_VARIABLES.items():
        if dist[key] is not None:
            found[key] = (f"distribution.{key}", dist[key])
        elif env.get(variable):
            value = env[variable].split(",")[0] if key == "coordinator" else env[variable]
            found[key] = (variable, value)
    return found


def distribution_problems(dist, env: Mapping[str, str] = {}) -> list[tuple[str, str, str]]:
    """(key, message, hint) for every mistake in `distribution` (and Keras' process variables in `env`) that
    needs no device to find. A setting the chosen strategy would ignore is a mistake too: it must take effect."""
    found = []
    if dist.strategy == Strategy.model_parallel:
        if not dist.mesh:
            found.append(
                (
                    "distribution.mesh",
                    "model_parallel needs a device mesh",
                    "e.g. +distribution.mesh={batch: 1, model: 2}",
                )
            )
        elif dist.batch_axis not in dist.mesh:
            found.append(
                (
                    "distribution.batch_axis",
                    f"{dist.batch_axis!r} is not an axis of distribution.mesh ({', '.join(dist.mesh)})",
                    "name one of the mesh's axes",
                )
            )
        if not dist.layout:
            found.append(
                (
                    "distribution.layout",
                    "model_parallel shards the variables its layout rules match, and there are none",
                    "e.g. +distribution.layout={'.*kernel': [null, model]}, or use distribution=data_parallel",
                )
            )
        for axis, size in dist.mesh.items():
            if size < 1:
                found.append((f"distribution.mesh.{axis}", f"expected a positive number of devices, got {size}", ""))
        for rule, axes in dist.layout.items():
            unknown = [a for a in axes if a is not None and a not in dist.mesh]
            if unknown:
                found.append(
                    (
                        f"distribution.layout.{rule}",
                        f"{unknown[0]!r} is not an axis of distribution.mesh ({', '.join(dist.mesh)})",
                        "give one mesh axis or null per dimension",
                    )
                )
            try:
                re.compile(rule)
            except re.error as exc:
                found.append(
                    (
                        f"distribution.layout.{rule}",
                        f"not a regular expression: {exc}",
                        "a regex matched against variable paths, e.g. dense.*kernel",
                    )
                )
    else:
        for key in ("mesh", "layout"):
            if dist[key]:
                found.append(
                    (
                        f"distribution.{key}",
                        f"a device mesh and layout rules shard a model_parallel run; this run is {getattr(dist.strategy, 'value', dist.strategy)}",
                        "add distribution=model_parallel, or drop it",
                    )
                )
    if dist.devices is not None and dist.strategy != Strategy.data_parallel:
        found.append(
            (
                "distribution.devices",
                f"picks how many devices data_parallel splits each batch over; this run is {getattr(dist.strategy, 'value', dist.strategy)}"
                + (" (its mesh decides the devices)" if dist.strategy == Strategy.model_parallel else ""),
                "add distribution=data_parallel, or drop it",
            )
        )
    elif dist.devices is not None and dist.devices < 1:
        found.append(
            ("distribution.devices", f"expected a positive number of devices, got {dist.devices}", "null: every device")
        )
    return found + _process_problems(dist, env)


def _process_problems(dist, env: Mapping[str, str]) -> list[tuple[str, str, str]]:
    given = processes(dist, env)
    found = []
    for key in ("num_processes", "process_id"):
        where, value = given.get(key, (None, None))
        if value is not None and not str(value).isdigit():  # Keras' variables, read as they are
            found.append((where, f"expected a whole number, got {value!r}", ""))
            given.pop(key)
    if "num_processes" in given and int(given["num_processes"][1]) < 1:
        found.append((given["num_processes"][0], "expected at least 1 process, got 0", ""))
        given.pop("num_processes")
    if "coordinator" in given:
        where, value = given["coordinator"]
        host, _, port = str(value).rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            found.append((where, f"expected HOST:PORT, e.g. localhost:12345, got {value!r}", "a port from 1 to 65535"))
    if found:
        return found
    if given and len(given) < 3:
        missing = sorted(set(PROCESS_VARIABLES) - set(given))
        found.append(
            (
                f"distribution.{missing[0]}",
                "several processes need the coordinator, num_processes and process_id",
                f"set distribution.{', distribution.'.join(missing)} too",
            )
        )
    elif given:
        (pid_where, pid), (_, count) = given["process_id"], given["num_processes"]
        if not int(pid) < int(count):
            found.append(
                (pid_where, f"expected 0 to {int(count) - 1}, got {pid}", "process 0 writes the run directory")
            )
    count = int(given["num_processes"][1]) if "num_processes" in given else 1
    if dist.strategy == Strategy.single and count > 1:
        found.append(
            (
                "distribution",
                f"several processes ({given['num_processes'][0]}={count}) share one model only with data_parallel or"
                " model_parallel: as single, each would train a model of its own",
                "add distribution=data_parallel",
            )
        )
    return found


@functools.cache
def structured() -> DictConfig:
    """The schema as an OmegaConf node, made once (~50 ms); callers merge into it, which copies it."""
    return OmegaConf.structured(Config)


def register() -> None:
    store = ConfigStore.instance()
    if "dlcli_schema.yaml" not in store.repo:
        store.store(name="dlcli_schema", node=Config, provider="dlcli")
