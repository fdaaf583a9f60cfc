"""Checks that need no Keras: run right after composing, before JAX is imported.

Every problem found is collected and reported together. Checks that need the
Keras classes (layer names and arguments, losses, optimizers) run when the
model is built, still before any data is loaded or any training starts.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from dlcli.data import sources
from dlcli.data.preprocess import LABELS, SCALERS
from dlcli.errors import Collector, ConfigError, did_you_mean
from dlcli.graph import Graph, parse


def validate(cfg: DictConfig) -> Graph:
    """Check the composed config; returns the parsed model graph."""
    problems = Collector()
    try:
        model = OmegaConf.to_container(cfg.model, resolve=True)
    except Exception as exc:  # a broken ${interpolation}
        problems.add("model", f"cannot resolve: {str(exc).splitlines()[0]}")
        model = {}
    graph = None
    try:
        graph = parse(model, "model")
    except ConfigError as exc:
        problems.problems.extend(exc.problems)
    _check_data(cfg.data, problems)
    _check_train(cfg, problems)
    problems.raise_if_any()
    return graph


def _check_data(data: DictConfig, problems: Collector) -> None:
    if data.source not in sources.names():
        problems.add("data.source", f"unknown data source {data.source!r}", did_you_mean(data.source, sources.names()) or "valid: " + ", ".join(sources.names()))
    for key in ("path", "train_path", "val_path", "test_path"):
        value = data.get(key)
        if value and not Path(value).expanduser().exists():
            problems.add(f"data.{key}", f"no such file {value!r} (resolved to {Path(value).expanduser().resolve()})")
    for key, options in (("scaler", SCALERS), ("target_scaler", SCALERS), ("labels", LABELS)):
        value = data.preprocess[key]
        if value not in options:
            problems.add(f"data.preprocess.{key}", f"expected one of {', '.join(options)}, got {value!r}", did_you_mean(value, options))
    for key in ("val_split", "test_split"):
        if not 0 <= data[key] < 1:
            problems.add(f"data.{key}", f"expected a fraction in [0, 1), got {data[key]}")
    if data.val_split + data.test_split >= 1:
        problems.add("data", f"val_split + test_split = {data.val_split + data.test_split:g} leaves nothing to train on", "keep their sum below 1")
    if data.limit is not None and data.limit < 1:
        problems.add("data.limit", f"expected a positive number of samples, got {data.limit}")


def _check_train(cfg: DictConfig, problems: Collector) -> None:
    for key in ("epochs", "batch_size"):
        if cfg.train[key] < 1:
            problems.add(f"train.{key}", f"expected a positive integer, got {cfg.train[key]}")
    lr = cfg.optimizer.learning_rate
    if isinstance(lr, bool) or not isinstance(lr, (int, float, DictConfig)):
        problems.add("optimizer.learning_rate", f"expected a number or a schedule {{class: ExponentialDecay, ...}}, got {lr!r}")
    elif not isinstance(lr, DictConfig) and lr <= 0:
        problems.add("optimizer.learning_rate", f"expected a positive number, got {lr}")
    for name, spec in (cfg.callbacks or {}).items():
        if spec is not None and (not isinstance(spec, DictConfig) or "class" not in spec):
            problems.add(f"callbacks.{name}", "a callback needs `class:` (e.g. EarlyStopping) and its Keras arguments")
