"""One run, from a config to a finished run directory: the one place a run's steps happen, in order.

1. `prepare`: compose the recipe with its overrides and validate it (no Keras: config
   errors are reported before JAX is imported).
2. `read_data`: read and split the data, still without Keras.
3. `build`: the Keras model, compiled, and its callbacks built once so their mistakes
   are found before a run directory exists.
4. `run`: finish the data, check one batch, create (or reopen) the run directory, fit
   with the callbacks in their order (run state, interrupts), then finalize: the
   model, the final metrics, the plots, and `metrics.json` last.

What happens is reported to an `Observer`; this module never prints. Drivers
(dlcli/drivers/) decide which configs run and where, and call these steps.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from omegaconf import DictConfig, OmegaConf

from dlcli import foreign, safepath
from dlcli.config import Composed, blaming_overrides, compose, schema, validate
from dlcli.errors import Collector, ConfigError, Interrupted, Problem, RunFailed
from dlcli.graph import Graph
from dlcli.runs import rundir


class Observer:
    """What a run reports as it goes. The command layer renders it; every method may be left as it is.

    `batches = True` asks for `batch_end` after every execution of training steps (one step,
    or train.steps_per_execution of them), with the logs left unread: reading one makes JAX
    wait for the step.
    """

    batches = False

    def note(self, text: str) -> None:
        """Something about the data the user should know (e.g. the shipped MNIST subset was used)."""

    def train_begin(self, epochs: int, steps: int | None) -> None: ...

    def epoch_begin(self, epoch: int) -> None:
        """`epoch` counts from 1."""

    def batch_end(self, step: int, logs: dict) -> None: ...

    def epoch_end(self, epoch: int, seconds: float, logs: dict) -> None: ...

    def train_end(self) -> None: ...

    def fold_kept(self, index: int, k: int) -> None:
        """K-fold driver: fold `index` finished in an earlier, interrupted run and is kept."""

    def fold_done(self, index: int, k: int, metrics: dict) -> None: ...


@dataclass
class Prepared:
    composed: Composed
    graph: Graph
    data: Any = None  # the Keras-free half of the data, read early (see read_data)

    @property
    def cfg(self) -> DictConfig:
        return self.composed.cfg


@dataclass
class Built:
    prepared: Prepared
    model: Any
    io: Any
    placement: Any = None  # backend.Placement: the devices a batch is split over, this process's index


@dataclass
class Result:
    run_dir: Path
    metrics: dict[str, dict[str, float]]
    note: str | None = None


def prepare(
    recipe: str | None,
    overrides: list[str],
    config_dirs: list[str] | None = None,
    runs_dir: Path | None = None,
    adjust: Callable[[DictConfig], None] | None = None,
) -> Prepared:
    """`runs_dir`: where new runs go (train --runs-dir), in place of the config's run.dir;
    `adjust`: a driver's change to the composed config before it is validated (smoke runs)."""
    composed = compose(recipe, overrides, config_dirs)
    if runs_dir is not None:
        composed.cfg.run.dir = str(runs_dir)
    if adjust is not None:
        adjust(composed.cfg)
    prepared = validated(composed)
    with blaming_overrides(composed.overrides):  # where the new run goes, as the disk is now (--resume's run exists)
        safepath.check_run_place(prepared.cfg.run.dir, prepared.cfg.run.name)
    return prepared


def main_process(cfg: DictConfig) -> bool:
    """Whether this is process 0 of several (or the only one): the one that writes the run and
    prints. Known before JAX starts, from distribution.process_id or Keras' environment variable."""
    pid = cfg.distribution.process_id
    return int(os.environ.get("KERAS_DISTRIBUTION_PROCESS_ID", 0) if pid is None else pid) == 0


def joining(cfg: DictConfig) -> str | None:
    """What a process of several waits for before it trains (each says so, in its own terminal), or None."""
    count = cfg.distribution.num_processes or os.environ.get("KERAS_DISTRIBUTION_NUM_PROCESSES")
    if count is None or int(count) < 2:
        return None
    pid = cfg.distribution.process_id
    pid = os.environ.get("KERAS_DISTRIBUTION_PROCESS_ID", 0) if pid is None else pid
    where = cfg.distribution.coordinator or os.environ.get("KERAS_DISTRIBUTION_JOB_ADDRESSES", "").split(",")[0]
    return (
        f"process {pid} of {count}: waiting for all {count} to join at {where} (JAX gives up after 5 minutes;"
        " Ctrl-C stops it now)"
    )


def validated(composed: Composed) -> Prepared:
    with blaming_overrides(composed.overrides):
        return Prepared(composed, validate(composed.cfg))


def read_data(prepared: Prepared) -> None:
    """Read and split the data before Keras is imported, so data mistakes are reported at once."""
    from dlcli import data
    from dlcli.data.splits import Fold

    cfg = prepared.cfg
    with blaming_overrides(prepared.composed.overrides):
        prepared.data = data.read(cfg.data, prepared.graph, cfg.seed, Fold.of(cfg.train))


def preflight(prepared: Prepared, model: bool = False) -> None:
    """What `build` would refuse, found before the model is built: the devices and the batch
    size, the callbacks; with `model`, the model's layers too, in a model thrown away (a sweep
    checks every combination with it before its first trial)."""
    from dlcli import backend

    cfg = prepared.cfg
    backend.setup()
    from dlcli import callbacks
    from dlcli.graph import registry

    with blaming_overrides(prepared.composed.overrides):
        if cfg.data.stream and cfg.distribution.strategy != "single":
            raise ConfigError(
                Problem(
                    "data.stream",
                    f"streamed data is read on one device; distribution={cfg.distribution.strategy} needs it in memory",
                    "drop data.stream, or train with distribution=single",
                )
            )
        backend.check(cfg.distribution, cfg.train.batch_size)
        registry.load_plugins(list(cfg.plugins))
        opt = OmegaConf.to_container(cfg.optimizer, resolve=True)
        callbacks.check(
            OmegaConf.to_container(cfg.callbacks, resolve=True),
            opt.get("learning_rate", 0.001),
            cfg.train.epochs,
            cfg.train.steps_per_execution,
            cfg.run.dir,
        )
        if model:
            import keras

            from dlcli.graph import compiler

            compiler.build(prepared.graph, name="preflight")
            keras.backend.clear_session()


def build(prepared: Prepared, join: bool = True) -> Built:
    """The compiled model; `join=False` builds it without joining other processes (`dlcli check`)."""
    from dlcli import backend

    cfg = prepared.cfg
    preflight(prepared)
    with blaming_overrides(prepared.composed.overrides):
        placement = backend.distribute(
            cfg.distribution, cfg.train.batch_size, join, _shared(cfg)
        )  # before any variable
    backend.seed_everything(cfg.seed)
    from dlcli.data.io import ModelIO
    from dlcli.graph import compiler

    with blaming_overrides(prepared.composed.overrides):
        name = str(cfg.model.get("name") or cfg.run.name).replace("/", "_")
        with backend.precision(cfg.train.precision):
            try:
                model = compiler.build(prepared.graph, name=name)
            except ConfigError as exc:
                _blame_layout(cfg.distribution, prepared.graph, exc)
                raise
        backend.outputs_in_float32(model)
        optimizer = compiler.optimizer_from_config(OmegaConf.to_container(cfg.optimizer, resolve=True))
        compiler.compile_model(model, prepared.graph, optimizer)
        _check_layout(cfg.distribution, model)
    return Built(prepared, model, ModelIO.of(model, prepared.graph), placement)


def _shared(cfg) -> dict[str, str] | None:
    """What every one of several processes must be given alike, by config section (all but its id)."""
    if "num_processes" not in schema.processes(cfg.distribution, os.environ):
        return None
    mine = OmegaConf.merge(cfg, {"distribution": {"process_id": None}})
    return {key: OmegaConf.to_yaml(mine[key]) if OmegaConf.is_config(mine[key]) else str(mine[key]) for key in mine}


def _blame_layout(dist, graph, failed: ConfigError) -> None:
    """A model_parallel build that failed in a node may have failed on a layout rule (one with more or fewer
    axes than its variable has dimensions, two rules for one variable), which Keras reports from inside the
    node. Built again without the distribution, the variables say which rule: raised as that rule's mistake."""
    if dist.strategy != "model_parallel":
        return
    import re

    import keras

    from dlcli.graph import compiler

    sharded = keras.distribution.distribution()
    keras.distribution.set_distribution(None)
    try:
        weights = compiler.build(graph).weights
    except ConfigError:
        return  # the node's own mistake
    finally:
        keras.distribution.set_distribution(sharded)
    problems, said = Collector(), set()
    for weight in weights:
        rules = [r for r in dist.layout if re.search(r, weight.path)]
        if not rules or rules[-1] in said:  # one problem a rule: its first variable
            continue
        said.add(rules[-1])
        if len(rules) > 1:
            problems.add(
                f"distribution.layout.{rules[1]}",
                f"{weight.path} matches {rules[0]!r} too: each variable takes one rule",
                "make the rules' regexes match different variables",
            )
        elif rules and len(dist.layout[rules[0]]) != len(weight.shape):
            axes = dist.layout[rules[0]]
            problems.add(
                f"distribution.layout.{rules[0]}",
                f"gives {len(axes)} axes, but {weight.path} has {len(weight.shape)} dimensions {tuple(weight.shape)}",
                "one mesh axis or null per dimension of every variable the rule matches",
            )
    if problems.problems:
        raise ConfigError(problems.problems) from failed


def _check_layout(dist, model) -> None:
    """A model_parallel layout rule that matches no variable shards nothing: refused, not ignored.
    Keras' LayoutMap matches a rule to a variable's path with re.search."""
    if dist.strategy != "model_parallel":
        return
    import re

    paths = [v.path for v in model.weights]
    problems = Collector()
    for rule in dist.layout:
        if not any(re.search(rule, path) for path in paths):
            problems.add(
                f"distribution.layout.{rule}",
                "matches no variable of the model, so it shards nothing",
                f"rules match variable paths such as {', '.join(paths[:4])}",
            )
    problems.raise_if_any()


def load_data(built: Built):
    """The splits as the built model takes them: what its outputs' units make of the labels is checked here
    (`dlcli check` calls it too, so that it refuses what train would)."""
    from dlcli import data
    from dlcli.data.splits import Fold

    cfg = built.prepared.cfg
    with blaming_overrides(built.prepared.composed.overrides):
        return data.load(cfg.data, built.io, cfg.seed, fold=Fold.of(cfg.train), done=built.prepared.data)


def run(
    built: Built, observer: Observer | None = None, run_dir: Path | None = None, resume: bool = False, extra: tuple = ()
) -> Result:
    """Train into a new run directory under `run.dir`, or into `run_dir` (K-fold's folds), or,
    with `resume`, continue the run in `run_dir` from its last saved state. `extra`: a driver's
    Keras callbacks, after dlcli's own (a sweep trial's report to its study)."""
    observer = observer or Observer()
    cfg, model, placement = built.prepared.cfg, built.model, built.placement
    dataset = load_data(built)
    with blaming_overrides(built.prepared.composed.overrides):
        feeds = _Feeds(placement, cfg.train.batch_size, dataset)
        if resume:
            _check_same_samples(run_dir, feeds)
    if dataset.note:
        observer.note(dataset.note)
    if feeds.dropped:
        observer.note(feeds.dropped)
    if not resume:
        _adapt(model, dataset.train)
    logged = _first_batch(model, dataset.train, min(cfg.train.batch_size, feeds.keep))  # (a batch that divides)
    for callback in extra:  # a driver's callback that reads a log (a sweep's --metric) checks it before any file
        if hasattr(callback, "check_logs"):
            callback.check_logs(logged, dataset.val is not None, dataset.test is not None and cfg.train.evaluate_test)
    scratch = None
    if not placement.writes:  # only process 0 writes the run directory; the others train into a scratch copy
        scratch = Path(tempfile.mkdtemp(prefix=f"dlcli-process-{placement.process}-"))
        if resume:  # the state to continue from, read where process 0 keeps it
            run_dir = Path(shutil.copytree(run_dir, scratch / "run"))
        else:
            run_dir = scratch / "run"
    made = [] if resume else rundir.absent(run_dir.parent if run_dir else Path(cfg.run.dir) / cfg.run.name)
    if not resume:  # the run's first files are written before it gets its name: never half-made
        staging = rundir.stage(run_dir.parent) if run_dir else rundir.stage_run(cfg.run.dir, cfg.run.name)
        try:
            _write_run_files(built, staging, dataset, feeds.keep)
            run_dir = rundir.publish(staging, run_dir.name if run_dir else None)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            rundir.remove_empty(made)  # (a published run keeps them: they are not empty)
    with rundir.lock(run_dir):  # one process writes a run: two --resume of it would interleave its files
        try:
            callbacks = _callbacks(built, run_dir, dataset, logged, observer)
            _steps_per_execution(
                model,
                cfg.train.steps_per_execution,
                callbacks.users,
                dataset.train,
                min(cfg.train.batch_size, feeds.keep),
                placement.processes,
            )
        except ConfigError:
            if not resume:
                shutil.rmtree(run_dir, ignore_errors=True)  # nothing of the user's is in it yet
                rundir.remove_empty(made)
            raise
        if resume:
            _record_resume(run_dir, built.prepared.composed, callbacks.state.epochs_done)
        try:
            model.fit(
                **feeds.train(dataset.train, cfg.train.shuffle),
                epochs=cfg.train.epochs,
                validation_data=feeds.validation(dataset.val),
                callbacks=[*feeds.callbacks(dataset.val), *callbacks.ordered, *extra],
                verbose=0,
            )
            history = callbacks.history.history()  # every epoch, those before a resume included
            _check_loss(history, run_dir)
            metrics = _finalize(built, run_dir, dataset, history, callbacks.restored_epoch(), feeds)
        except KeyboardInterrupt:  # in an epoch, or in the final evaluation and saving: resume finishes it
            if not placement.writes:  # its run directory is a scratch copy, deleted below
                raise Interrupted(
                    Problem(
                        "",
                        f"interrupted: process {placement.process} of {placement.processes} stopped; process 0 keeps"
                        " the run and its saved epochs",
                        "resume every process with: dlcli train --resume RUN (the run process 0 names) and its"
                        " distribution options",
                    ),
                    None,
                ) from None
            raise _interrupted(run_dir, callbacks.state.epochs_done) from None
        finally:
            callbacks.state.flush()  # the last snapshot on disk before anything reports it saved
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)
        return Result(run_dir, metrics, dataset.note)


def _interrupted(run_dir: Path, epochs_done: int) -> Interrupted:
    saved = {0: "no epoch had finished; resuming starts over", 1: "epoch 1 is saved"}.get(
        epochs_done, f"epochs 1-{epochs_done} are saved"
    )
    return Interrupted(
        Problem("", f"interrupted: {saved} in {run_dir}", f"resume with: dlcli train --resume {run_dir}"), run_dir
    )


def evaluate_split(model, split, batch_size: int, preprocessor=None, feeds: _Feeds | None = None) -> dict[str, float]:
    """`feeds`: a training run's placement of the data on its devices (None: a reloaded run, on one device)."""
    from dlcli import backend
    from dlcli.data import original_units

    args = feeds.evaluation(split) if feeds else split.eval_args(batch_size)
    with backend.undistributed(feeds is not None and not feeds.even(split)):
        result = model.evaluate(**args, verbose=0, return_dict=True)
        metrics = {k: float(v) for k, v in result.items()}
        if preprocessor is not None:
            metrics.update(original_units(model, split, preprocessor, batch_size))
    return metrics


class _Feeds:
    """The data as `fit` and `evaluate` take it on the run's devices (backend.Placement).

    One device: the splits as they are. Several: every training batch must divide by the
    devices, so the last few training samples that would not are left out (`dropped` says so);
    a val or test split whose last batch does not divide is evaluated on one device (no
    sample is ever dropped from evaluation: keras-team/keras#21167). Several processes:
    each feeds its own share of every batch, so a batch is the same global batch as on one
    process (with train.shuffle, each process shuffles its own share).
    """

    def __init__(self, placement, batch_size: int, dataset) -> None:
        self.placement, self.batch = placement, batch_size
        self.devices, self.processes = placement.devices, placement.processes
        n = len(dataset.train)
        self.keep = n - n % batch_size % self.devices
        self.dropped = None
        if self.keep < n:
            last = self.keep % batch_size
            sizes = (
                f"one batch of {self.keep}"
                if self.keep < batch_size
                else f"batches of {batch_size}" + (f" and a last one of {last}" if last else "")
            )
            self.dropped = (
                f"{n - self.keep} of {n:,} training samples left out, so that every batch divides by the "
                f"{self.devices} devices ({sizes})"
            )
        if self.processes > 1:
            for name in ("val", "test"):
                split = getattr(dataset, name)
                if split is not None and not self.even(split):
                    raise ConfigError(
                        Problem(
                            f"data.{name}_split",
                            f"with {self.processes} processes every {name} batch must divide by the {self.devices} devices: "
                            f"{len(split)} samples in batches of {batch_size} leave a last batch of {len(split) % batch_size}",
                            "choose train.batch_size or the split's size so that it divides",
                        )
                    )

    def even(self, split) -> bool:
        from dlcli import backend

        return backend.splits_evenly(len(split), self.batch, self.devices)

    def _share(self, split, n: int) -> tuple[Any, Any]:
        """This process's rows of every batch of the first `n` samples."""
        import numpy as np

        if n == len(split) and self.processes == 1:
            return split.x, split.y
        rows = np.arange(n)
        if self.processes > 1:
            starts = range(0, n, self.batch)
            rows = np.concatenate([_part(rows[s : s + self.batch], self.placement) for s in starts])
        return _head(split.x, rows), _head(split.y, rows)

    def train(self, split, shuffle: bool) -> dict[str, Any]:
        if self.devices == 1 and self.processes == 1:
            return split.fit_args(self.batch, shuffle)
        x, y = self._share(split, self.keep)
        return {"x": x, "y": y, "batch_size": self.batch // self.processes, "shuffle": shuffle}

    def validation(self, split):
        if split is None or self.processes == 1:
            return None if split is None else split.validation_data(self.batch)
        return self._share(split, len(split))

    def evaluation(self, split) -> dict[str, Any]:
        if self.processes == 1:
            return split.eval_args(self.batch)
        x, y = self._share(split, len(split))
        return {"x": x, "y": y, "batch_size": self.batch // self.processes}

    def callbacks(self, val) -> list:
        """fit validates on one device when the val split's last batch does not divide."""
        if val is None or self.devices == 1 or self.even(val):
            return []
        from dlcli.callbacks.devices import ValidateOnOneDevice

        return [ValidateOnOneDevice()]


def _part(rows, placement):
    share = len(rows) // placement.processes
    return rows[placement.process * share : (placement.process + 1) * share]


# --- the steps' parts --------------------------------------------------------------------


def _adapt(model, split) -> None:
    """Adapt Normalization layers to the training split, as a Keras user calls `layer.adapt(x_train)`.

    Only a layer reading a model input directly can be adapted (on that input's
    array); one given `mean` and `variance` keeps them. A resumed run restores
    the adapted statistics with the other weights.
    """
    import keras

    for layer in model.layers:
        if not isinstance(layer, keras.layers.Normalization) or layer.input_mean is not None:
            continue
        where = f"model.nodes.{layer.name}"
        sources = [t._keras_history.operation for node in layer._inbound_nodes for t in node.input_tensors]
        if len(sources) != 1 or not isinstance(sources[0], keras.layers.InputLayer):
            raise ConfigError(
                Problem(
                    where,
                    "Normalization learns its mean and variance from data (adapt), and dlcli adapts it only on a model input",
                    "put it right after an input, give mean: and variance:, or scale with data.preprocess.scaler=standard",
                )
            )
        if split.rows is not None:
            raise ConfigError(
                Problem(
                    where,
                    "Normalization cannot be adapted on streamed data (data.stream=true)",
                    "give mean: and variance:, or scale with data.preprocess.scaler=standard",
                )
            )
        layer.adapt(split.x[sources[0].name] if isinstance(split.x, dict) else split.x)


def _first_batch(model, split, batch_size: int) -> set[str]:
    """Evaluate one batch before any run directory exists: a loss or metric that does not suit
    the labels fails here as a config error, and the names it logs are what callbacks may monitor."""
    x, y = _one_batch(split, batch_size)
    try:
        logs = model.test_on_batch(x, y, return_dict=True)  # as _step_seconds then calls it: one compilation
    except Exception as exc:
        reason = foreign.first_line(exc)
        if foreign.shape_mismatch(reason):
            hint = "each output's loss and metrics must suit its labels (data.preprocess.labels: one_hot, sparse)"
        else:  # not the labels' form: a custom loss or metric's own code, say
            hint = "check each output's loss and metrics, a plugin's own code included (--debug shows the traceback)"
        raise ConfigError(
            Problem(
                "model.outputs", f"Keras cannot compute the losses and metrics on a batch of this data: {reason}", hint
            )
        ) from exc
    several = [name for name, value in logs.items() if getattr(value, "ndim", 0) > 0]
    if several:  # e.g. F1Score per class: history, checkpoints and callbacks take one number a metric
        raise ConfigError(
            Problem(
                "model.outputs",
                f"metric {several[0]!r} gives one value per class, not one number",
                "average it: metrics: [{class: F1Score, average: macro}]",
            )
        )
    return set(logs)


def _one_batch(split, batch_size: int):
    """(x, y) of the split's first batch."""
    if split.rows is not None:
        return split.sequence(batch_size, False)[0]
    return _head(split.x, batch_size), _head(split.y, batch_size)


def _head(values, n):
    """The first `n` samples, or the samples at the positions `n` (an array)."""
    from dlcli.data import take

    return take(values, slice(None, n) if isinstance(n, int) else n)


# train.steps_per_execution=auto: as many steps as take about this long between two callback
# round trips (each costs ~0.2 ms of Python on 2 CPU cores: then 0.2 %), at most this many.
AUTO_EXECUTION_SECONDS = 0.1
AUTO_MAX_STEPS = 64


def auto_steps(step_seconds: float, batches: int) -> int:
    """Steps per execution for a training step of `step_seconds`, with `batches` batches an epoch."""
    wanted = math.ceil(AUTO_EXECUTION_SECONDS / max(step_seconds, 1e-6))
    return max(1, min(wanted, AUTO_MAX_STEPS, batches))


def _step_seconds(model, split, batch_size: int, processes: int) -> float:
    """A training step's time, measured before training changes anything: the fastest of up to
    five forward passes of the first batch (test_on_batch, compiled by the first-batch check; no
    weight, seed or optimizer state changes), times 3 (the backward pass costs about twice the
    forward one). A pass slow enough for one step per execution ends the measuring, in one process;
    several make all five passes (each is a collective) and take process 0's time."""
    import time

    from dlcli import backend

    x, y = _one_batch(split, batch_size)
    best = math.inf
    for _ in range(5):
        start = time.perf_counter()
        model.test_on_batch(x, y)
        best = min(best, time.perf_counter() - start)
        if 3 * best >= AUTO_EXECUTION_SECONDS and processes == 1:
            break
    return backend.process_zeros(3 * best)


def _steps_per_execution(model, setting: str, users: dict, split, batch_size: int, processes: int) -> None:
    """train.steps_per_execution: `auto` picks from the measured step time (auto_steps) unless a
    callback reads every batch (`callbacks.batch_readers`), which then gets every one; a number
    above 1 with such a callback was refused by `callbacks.check`."""
    from dlcli import callbacks

    if setting == "auto":
        batches = math.ceil(len(split) / batch_size)
        readers = callbacks.batch_readers(users)
        steps = 1 if readers else auto_steps(_step_seconds(model, split, batch_size, processes), batches)
    else:
        steps = int(setting)
    if steps != model.steps_per_execution:
        model.steps_per_execution = steps
        model.make_test_function(force=True)  # made for one step by the first-batch check


def _callbacks(built: Built, run_dir: Path, dataset, logged: set[str], observer: Observer):
    from dlcli import callbacks as cb

    run = cb.RunData(built.model, dataset.train, dataset.val, built.prepared.cfg.train.batch_size)
    specs = OmegaConf.to_container(built.prepared.cfg.callbacks, resolve=True)
    return cb.for_run(specs, run_dir, run, logged, observer)


def _overrides_yaml(composed: Composed) -> str:
    return OmegaConf.to_yaml(OmegaConf.create({"recipe": str(composed.recipe.path), "overrides": composed.overrides}))


def _write_run_files(built: Built, run_dir: Path, dataset, train_samples: int) -> None:
    """`train_samples`: how many of the training split's samples each epoch trains on (several devices may
    leave a few out), so that a resume on other devices is refused rather than trained on others."""
    from dlcli.graph.summary import summary_text
    from dlcli.runs import env

    composed = built.prepared.composed
    write_config(run_dir, composed)
    placement = built.placement  # which of the devices listed the run used
    used = {"devices_used": placement.devices, "processes": placement.processes}
    rundir.write_json(run_dir / "env.json", env.describe() | used)
    rundir.write_text(run_dir / "summary.txt", summary_text(built.model, built.prepared.graph))
    pre = dataset.preprocessor
    record = {"config": pre.config, "state": pre.state, "train_samples": train_samples}
    rundir.write_json(run_dir / "preprocess.json", record)


def _check_same_samples(run_dir: Path, feeds: _Feeds) -> None:
    """A run resumed on devices that leave out other training samples than it did would train its
    remaining epochs on other data than the uninterrupted run: refused (a run from before the count
    was kept is not checked)."""
    from dlcli.runs.load import read_preprocess

    before = read_preprocess(run_dir).get("train_samples")
    if before is not None and before != feeds.keep:
        raise ConfigError(
            Problem(
                "distribution",
                f"the run trained each epoch on {before} samples of its training split; on {feeds.devices} device(s)"
                f" it would train on {feeds.keep}, so its remaining epochs would not be the uninterrupted run's",
                "resume on the devices it trained on (its config.yaml's distribution), or on a device count that"
                " divides its batches the same way",
            )
        )


def write_config(run_dir: Path, composed: Composed) -> None:
    """config.yaml (resolved) and overrides.yaml (the recipe and overrides it came from)."""
    rundir.write_text(run_dir / "config.yaml", rundir.config_yaml(composed.cfg))
    rundir.write_text(run_dir / rundir.OVERRIDES, _overrides_yaml(composed))


def _record_resume(run_dir: Path, composed: Composed, epoch: int) -> None:
    """Write the config the run continues with, and note the resume in overrides.yaml."""
    rundir.write_text(run_dir / "config.yaml", rundir.config_yaml(composed.cfg))
    history = rundir.load_overrides(run_dir)
    resumes = list(history.get("resumed") or [])
    resumes.append({"after_epoch": epoch, "overrides": list(composed.overrides)})
    history.resumed = resumes
    rundir.write_text(run_dir / rundir.OVERRIDES, OmegaConf.to_yaml(history))


def _check_loss(history: dict, run_dir: Path) -> None:
    losses = history.get("loss", [])
    if losses and not math.isfinite(losses[-1]):
        raise RunFailed(
            Problem(
                "train",
                f"the loss became {losses[-1]} in epoch {len(losses)}; training stopped (partial run in {run_dir})",
                "lower optimizer.learning_rate, or check the data for NaN or huge values",
            )
        )


def _finalize(built: Built, run_dir: Path, dataset, history: dict, epoch: int | None, feeds: _Feeds) -> dict:
    """The saved model, the final metrics and the plots; `metrics.json` last: a run that has it finished."""
    from dlcli.runs import plots

    with rundir.atomic_write(run_dir / "model.keras") as tmp:
        built.model.save(tmp)
    metrics = _final_metrics(history, built.model, dataset, built.prepared.cfg, epoch, feeds)
    plots.training_curves(history, run_dir / "plots", outputs=list(built.prepared.graph.outputs))
    rundir.write_json(run_dir / "metrics.json", metrics)
    return metrics


def _final_metrics(history: dict, model, dataset, cfg, epoch: int | None, feeds: _Feeds) -> dict[str, dict[str, float]]:
    """train and val describe the saved model: the history row of `epoch` when EarlyStopping restored
    that epoch's weights (the last epoch's row would describe weights that were thrown away), else
    the last row. test (and val in original units) are evaluated on the model itself."""
    from dlcli import backend
    from dlcli.data import original_units

    row = {k: float(v[-1 if epoch is None else epoch]) for k, v in history.items() if v}
    metrics = {
        "train": {k: v for k, v in row.items() if not k.startswith("val_")},
        "val": {k[4:]: v for k, v in row.items() if k.startswith("val_")},
    }
    if dataset.test is not None and cfg.train.evaluate_test:
        metrics["test"] = evaluate_split(model, dataset.test, cfg.train.batch_size, dataset.preprocessor, feeds)
    if dataset.val is not None:  # scaled regression targets: errors in original units too
        with backend.undistributed():
            metrics["val"].update(original_units(model, dataset.val, dataset.preprocessor, cfg.train.batch_size))
    return {k: v for k, v in metrics.items() if v}
