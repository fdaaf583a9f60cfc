"""Checks that need no Keras: run right after composing, before JAX is imported.

Every problem found is collected and reported together. Checks that need the
Keras classes (layer names and arguments, losses, optimizers) run when the
model is built, still before any data is loaded or any training starts.
"""

from __future__ import annotations

import os

from omegaconf import DictConfig, OmegaConf

from dlcli.config import schema
from dlcli.data import checks as data_checks
from dlcli.errors import Collector, ConfigError
from dlcli.foreign import first_line
from dlcli.graph import Graph, parse


def validate(cfg: DictConfig) -> Graph:
    """Check the composed config; returns the parsed model graph."""
    problems = Collector()
    try:
        model = OmegaConf.to_container(cfg.model, resolve=True)
    except Exception as exc:  # a broken ${interpolation}
        problems.add("model", f"cannot resolve: {first_line(exc)}", code="foreign")
        model = {}
    graph = None
    try:
        graph = parse(model, "model")
    except ConfigError as exc:
        problems.problems.extend(exc.problems)
    data_checks.check(cfg, graph, problems)
    _check_train(cfg, problems)
    _check_run(cfg, problems)
    problems.raise_if_any()
    return graph


def _check_train(cfg: DictConfig, problems: Collector) -> None:
    if not 0 <= cfg.seed < 2**32:  # what NumPy, scikit-learn and Keras' set_random_seed take
        problems.add("seed", f"expected an integer from 0 to 4294967295 (2**32 - 1), got {cfg.seed}")
    for key in ("epochs", "batch_size"):
        if cfg.train[key] < 1:
            problems.add(f"train.{key}", f"expected a positive integer, got {cfg.train[key]}")
    if cfg.data.sequence_length < 1:  # a None dimension of an input becomes this many steps
        problems.add("data.sequence_length", f"expected a positive integer, got {cfg.data.sequence_length}")
    if not str(cfg.optimizer.name).strip():
        problems.add("optimizer.name", "is empty", "name a Keras optimizer, e.g. optimizer.name=adam")
    wrong = schema.learning_rate_problem(cfg.optimizer.learning_rate)
    if wrong:
        problems.add("optimizer.learning_rate", wrong)
    wrong = schema.steps_problem(cfg.train.steps_per_execution)
    if wrong:
        problems.add("train.steps_per_execution", wrong)
    for key, message, hint in schema.distribution_problems(cfg.distribution, os.environ):
        problems.add(key, message, hint or None)
    several = schema.processes(cfg.distribution, os.environ).get("num_processes", (None, "1"))[1]
    if str(several).isdigit() and int(several) > 1:  # each process would make, and combine, a parent run of its own
        k, n = cfg.train.kfold, cfg.train.ensemble
        if n >= 2:
            problems.add(
                "train.ensemble",
                f"several processes train one run; train.ensemble={n} trains {n}",
                "train each member in its own command (seed=N, one data.seed), then: dlcli ensemble RUN RUN ...",
            )
        elif k >= 2 and cfg.train.fold is None:
            problems.add(
                "train.kfold",
                f"several processes train one run; train.kfold={k} trains {k}",
                f"train one fold per command (train.fold=N, N from 1 to {k}), or the K-fold run in one process",
            )
    for name, spec in (cfg.callbacks or {}).items():
        if spec is not None and (not isinstance(spec, DictConfig) or "class" not in spec):
            problems.add(f"callbacks.{name}", "a callback needs `class:` (e.g. EarlyStopping) and its Keras arguments")


def _check_run(cfg: DictConfig, problems: Collector) -> None:
    """A run stays inside run.dir, and run.dir is named (see safepath.check_run_location)."""
    from dlcli.safepath import check_run_location

    try:
        check_run_location(cfg.run.dir, cfg.run.name)
    except ConfigError as exc:
        problems.problems.extend(exc.problems)
