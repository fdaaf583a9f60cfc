"""The pipeline every command shares: compose -> validate -> build -> data -> train -> save.

`prepare` needs no Keras (config errors are reported before JAX is imported);
`build` imports Keras and turns the config into a compiled model; `train`
creates the run directory and fills it as DESIGN.md ("Runs") lists.
"""

from __future__ import annotations

import math
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from dlcli.config import Composed, blaming_overrides, compose, validate
from dlcli.errors import ConfigError, Problem, RunFailed
from dlcli.graph import Graph
from dlcli.runs import rundir

SMOKE_BATCH = 2  # one step of 2 per split: the dual-camera Xception's step alone takes ~25 s on a CPU


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


def prepare(
    recipe: str | None,
    overrides: list[str],
    config_dirs: list[str] | None = None,
    smoke: bool = False,
    runs_dir: Path | None = None,
) -> Prepared:
    """`runs_dir`: where new runs go (train --runs-dir), in place of the config's run.dir."""
    composed = compose(recipe, overrides, config_dirs)
    if runs_dir is not None:
        composed.cfg.run.dir = str(runs_dir)
    if smoke:
        _shrink_for_smoke(composed.cfg)
    with blaming_overrides(overrides):
        return Prepared(composed, validate(composed.cfg))


def _shrink_for_smoke(cfg: DictConfig) -> None:
    """Same pipeline, synthetic data from the model's specs, a couple of steps."""
    cfg.data.source = "synthetic"
    cfg.data.samples = SMOKE_BATCH * 3
    for key in ("path", "train_path", "val_path", "test_path", "limit"):
        cfg.data[key] = None
    cfg.data.preprocess = OmegaConf.structured(type(OmegaConf.to_object(cfg.data.preprocess)))
    cfg.data.stratify = False
    cfg.data.stream = False
    cfg.data.test_split, cfg.data.val_split = 1 / 3, 1 / 2  # 6 samples -> 2 train, 2 val, 2 test
    cfg.train.epochs = 1
    cfg.train.batch_size = SMOKE_BATCH
    cfg.run.dir = str(Path(cfg.run.dir) / "smoke")


def read_data(prepared: Prepared) -> None:
    """Read and split the data before Keras is imported, so data mistakes are reported at once."""
    from dlcli import data
    from dlcli.data.splits import Fold

    cfg = prepared.cfg
    with blaming_overrides(prepared.composed.overrides):
        prepared.data = data.read(cfg.data, prepared.graph, cfg.seed, Fold.of(cfg.train))


def build(prepared: Prepared) -> Built:
    from dlcli import backend

    backend.setup()
    backend.seed_everything(prepared.cfg.seed)
    from dlcli import callbacks
    from dlcli.data.io import ModelIO
    from dlcli.graph import compiler, registry

    cfg = prepared.cfg
    with blaming_overrides(prepared.composed.overrides):
        registry.load_plugins(list(cfg.plugins))
        name = str(cfg.model.get("name") or cfg.run.name).replace("/", "_")
        model = compiler.build(prepared.graph, name=name)
        opt = OmegaConf.to_container(cfg.optimizer, resolve=True)
        optimizer = compiler.optimizer_from_config(opt)
        compiler.compile_model(model, prepared.graph, optimizer)
        callbacks.check(
            OmegaConf.to_container(cfg.callbacks, resolve=True), opt.get("learning_rate", 0.001), cfg.train.epochs
        )
    return Built(prepared, model, ModelIO.of(model, prepared.graph))


@dataclass
class Result:
    run_dir: Path
    metrics: dict[str, dict[str, float]]
    note: str | None = None


def train(
    built: Built,
    console=None,
    quiet: bool = False,
    run_root: str | None = None,
    run_dir: Path | None = None,
    resume: Path | None = None,
) -> Result:
    """Train into a new run directory (or into `run_dir`, as K-fold does for each fold),
    or continue the run in `resume` from its last saved state."""
    from dlcli import data as data_mod
    from dlcli.data.splits import Fold
    from dlcli.runs import resume as resuming

    cfg, model = built.prepared.cfg, built.model
    with blaming_overrides(built.prepared.composed.overrides):
        dataset = data_mod.load(cfg.data, built.io, cfg.seed, fold=Fold.of(cfg.train), done=built.prepared.data)
    if dataset.note and console is not None:
        console.print(f"[yellow]note:[/] {dataset.note}", soft_wrap=True, highlight=False)
    if resume is None:
        _adapt(model, dataset.train)
    logged = _first_batch(model, dataset.train, cfg.train.batch_size)
    if resume is not None:
        run_dir = resume
    elif run_dir is None:
        run_dir = rundir.create(run_root or cfg.run.dir, cfg.run.name)
    else:
        run_dir.mkdir(parents=True)
    with rundir.lock(run_dir):  # one process writes a run: two --resume of it would interleave its files
        try:
            callbacks = _callbacks(built, run_dir, dataset, logged, console, quiet)
        except ConfigError:
            if resume is None:
                shutil.rmtree(run_dir, ignore_errors=True)  # nothing of the user's is in it yet
            raise
        if resume is None:
            _write_run_files(built, run_dir, dataset)
        else:
            resuming.record(run_dir, cfg, built.prepared.composed.overrides, callbacks.state.epochs_done)
        try:
            model.fit(
                **dataset.train.fit_args(cfg.train.batch_size, cfg.train.shuffle),
                epochs=cfg.train.epochs,
                validation_data=dataset.val.validation_data(cfg.train.batch_size) if dataset.val else None,
                callbacks=callbacks.ordered,
                verbose=0,
            )
            history = callbacks.history.history()  # every epoch, those before a resume included
            losses = history.get("loss", [])
            if losses and not math.isfinite(losses[-1]):
                raise RunFailed(
                    Problem(
                        "train",
                        f"the loss became {losses[-1]} in epoch {len(losses)}; training stopped (partial run in {run_dir})",
                        "lower optimizer.learning_rate, or check the data for NaN or huge values",
                    )
                )
            _save_model(model, run_dir / "model.keras")
            metrics = _final_metrics(history, model, dataset, cfg, callbacks.restored_epoch())
            from dlcli.runs import plots

            plots.training_curves(history, run_dir / "plots", outputs=list(built.prepared.graph.outputs))
            rundir.write_json(run_dir / "metrics.json", metrics)  # last: a run with metrics.json is finished
        except KeyboardInterrupt:  # in an epoch, or in the final evaluation and saving: resume finishes it
            raise resuming.interrupted(run_dir, callbacks.state.epochs_done) from None
        return Result(run_dir, metrics, dataset.note)


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
    x, y = split.sequence(batch_size, False)[0] if split.rows is not None else (split.x, split.y)
    if split.rows is None:
        x, y = (_head(v, batch_size) for v in (x, y))
    try:
        logs = model.evaluate(x, y, batch_size=batch_size, verbose=0, return_dict=True)
    except Exception as exc:
        from dlcli.graph.registry import strip_ansi

        text = strip_ansi(str(exc)).strip().splitlines()
        reason = text[0] if text else type(exc).__name__
        if re.search(r"shape|dimension|rank|dtype|broadcast|incompatible", reason, re.I):
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


def _head(values, n: int):
    return {k: v[:n] for k, v in values.items()} if isinstance(values, dict) else values[:n]


def _callbacks(built: Built, run_dir: Path, dataset, logged: set[str], console, quiet: bool):
    from dlcli import callbacks as cb

    run = cb.RunData(built.model, dataset.train, dataset.val, built.prepared.cfg.train.batch_size)
    return cb.for_run(
        OmegaConf.to_container(built.prepared.cfg.callbacks, resolve=True), run_dir, run, logged, console, quiet
    )


def _write_run_files(built: Built, run_dir: Path, dataset) -> None:
    from dlcli.graph.summary import summary_text
    from dlcli.runs import env

    composed = built.prepared.composed
    rundir.write_text(run_dir / "config.yaml", rundir.config_yaml(composed.cfg))
    rundir.write_text(
        run_dir / "overrides.yaml",
        OmegaConf.to_yaml(OmegaConf.create({"recipe": str(composed.recipe.path), "overrides": composed.overrides})),
    )
    rundir.write_json(run_dir / "env.json", env.describe())
    rundir.write_text(run_dir / "summary.txt", summary_text(built.model, built.prepared.graph))
    pre = dataset.preprocessor
    rundir.write_json(run_dir / "preprocess.json", {"config": pre.config, "state": pre.state})


def _save_model(model, path: Path) -> None:
    with rundir.atomic_write(path) as tmp:
        model.save(tmp)


def _final_metrics(history: dict, model, dataset, cfg, epoch: int | None) -> dict[str, dict[str, float]]:
    """train and val describe the saved model: the history row of `epoch` when EarlyStopping restored
    that epoch's weights (the last epoch's row would describe weights that were thrown away), else
    the last row. test (and val in original units) are evaluated on the model itself."""
    from dlcli.data import original_units

    row = {k: float(v[-1 if epoch is None else epoch]) for k, v in history.items() if v}
    metrics = {
        "train": {k: v for k, v in row.items() if not k.startswith("val_")},
        "val": {k[4:]: v for k, v in row.items() if k.startswith("val_")},
    }
    if dataset.test is not None and cfg.train.evaluate_test:
        metrics["test"] = evaluate_split(model, dataset.test, cfg.train.batch_size, dataset.preprocessor)
    if dataset.val is not None:  # scaled regression targets: errors in original units too
        metrics["val"].update(original_units(model, dataset.val, dataset.preprocessor, cfg.train.batch_size))
    return {k: v for k, v in metrics.items() if v}


def evaluate_split(model, split, batch_size: int, preprocessor=None) -> dict[str, float]:
    from dlcli.data import original_units

    result = model.evaluate(**split.eval_args(batch_size), verbose=0, return_dict=True)
    metrics = {k: float(v) for k, v in result.items()}
    if preprocessor is not None:
        metrics.update(original_units(model, split, preprocessor, batch_size))
    return metrics
