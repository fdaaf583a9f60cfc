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

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore

from dlcli.data.preprocess import Labels, Scaler, Side


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


def register() -> None:
    ConfigStore.instance().store(name="dlcli_schema", node=Config, provider="dlcli")
