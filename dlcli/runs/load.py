"""Reopen a finished run: its config, model, preprocessing state and data."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from omegaconf import DictConfig, OmegaConf

from dlcli.config.schema import DataConfig
from dlcli.errors import ConfigError, Problem
from dlcli.runs import rundir

READ = 1024  # samples a file is read in at least: a chunk of fewer costs more in pandas than it saves


@dataclass
class Run:
    path: Path
    cfg: DictConfig
    model: Any
    io: Any
    preprocess: dict
    overridden: tuple[str, ...] = ()  # the data.* keys the command line overrode

    def samples(self, path: Path):
        """A file of samples (`--input`) read as the training data was: (raw Part, model-ready features)."""
        return next(self.batches(path))

    def batches(
        self, path: Path, batch_size: int | None = None, need_targets: bool = False
    ) -> Iterator[tuple[Any, Any]]:
        """`samples` a chunk at a time (None: the whole file at once): the smallest multiple of `batch_size`
        that is at least READ samples, so the model sees the batches it would see were the file read whole.
        A sample's target may be missing (an empty cell: NaN) unless the caller `need_targets` to score it."""
        from dlcli.data import sources

        if path.is_dir():
            raise ConfigError(Problem("--input", f"{path} is a directory", "name one .csv or .npz file in it"))
        if not path.is_file():
            problem = sources.missing_file(str(path), "--input", None)
            raise ConfigError(Problem("--input", problem.message.replace("no such file", "no file", 1)))
        columns = (self.preprocess.get("state") or {}).get("columns")
        size = None if batch_size is None else batch_size * -(-READ // batch_size)
        parts = sources.new_sample_batches(path, self.cfg.data, self.io, columns, size)
        pre = self.preprocessor()
        seen = 0  # samples in the chunks before this one
        while True:
            try:
                part = next(parts, None)
            except ConfigError as exc:  # the file's problems, blamed on --input: the trained run's data.* cannot change
                raise ConfigError([_as_input(p, path, self.overridden) for p in exc.problems]) from exc
            if part is None:
                return
            if need_targets:
                _refuse_unlabelled(part, path, seen)
            try:
                pre.check_multihot(part.y, "input", columns, seen, csv=path.suffix != ".npz")
            except ConfigError as exc:
                raise ConfigError([_as_input(p, path) for p in exc.problems]) from exc
            seen += len(part)
            try:
                features = pre.features(part.x)
            except ConfigError as exc:  # the trained model cannot change: the file has to
                raise ConfigError(
                    Problem(
                        "--input",
                        f"{path.name}: {exc.problems[0].message}",
                        "give the samples as the run's training data gave them (see its config.yaml, data.*)",
                    )
                ) from exc
            yield part, features

    def labelled(self, path: Path, batch_size: int | None = None):
        """A file of samples with their targets, as a split to evaluate; with `batch_size`, a split read
        a chunk at a time each time it is gone through (`batches`), never held whole."""
        from dlcli.data import Split, for_model, sources

        first = next(self.batches(path, batch_size, need_targets=True))
        missing = [o.name for o in self.io.outputs if o.name not in first[0].y]
        if missing:
            trained = (self.preprocess.get("state") or {}).get("columns")
            hints = sources.target_hints(path, self.cfg.data, self.io, trained, missing)
            raise ConfigError(
                Problem(
                    "--input",
                    f"{path.name} has no targets for {', '.join(missing)} (data.target)",
                    "; ".join(
                        [
                            *hints,
                            f"to score it, give the targets; to label it, dlcli predict {self.path} --input {path}",
                        ]
                    ),
                )
            )
        pre = self.preprocessor()

        def scored(chunk):
            part, features = chunk
            return for_model(features), for_model(pre.encode(file_targets(pre, part.y, path), self.io))

        if batch_size is None:
            return Split(*scored(first))
        return Split(chunks=lambda: map(scored, self.batches(path, batch_size, need_targets=True)))

    def preprocessor(self):
        """The preprocessing fitted when the run trained, ready to apply to new samples."""
        from dlcli.data.preprocess import Preprocessor

        return Preprocessor(
            OmegaConf.to_container(self.cfg.data.preprocess, resolve=True), self.io, self.preprocess.get("state") or {}
        )

    def dataset(self):
        from dlcli import data
        from dlcli.data.splits import Fold

        state = self.preprocess.get("state") or {}
        return data.load(self.cfg.data, self.io, self.cfg.seed, state=state, fold=Fold.of(self.cfg.train))


def file_targets(pre, targets: dict[str, Any], path: Path) -> dict[str, Any]:
    """A --input file's targets (those it has) as the run's class ids or scaled values. A label training
    never had, or one the run's loss cannot take, is refused: never scored as something else."""
    try:
        return {name: pre.target(values, name, "input") for name, values in targets.items()}
    except ConfigError as exc:
        hint = "give the targets as the run's training data spelt them; without them, dlcli predict labels the file"
        raise ConfigError([Problem("--input", f"{path.name}: {p.message}", hint) for p in exc.problems]) from exc


def labelled_rows(values) -> Any:
    """Which samples of a --input file's targets have one: a row with an empty cell (NaN) has none."""
    import pandas as pd

    return ~pd.isna(values).reshape(len(values), -1).any(axis=1)


def _refuse_unlabelled(part, path: Path, seen: int) -> None:
    """Scoring needs every sample's targets: those that lack one, as data rows of a CSV (1 is the first after
    the header, as in the other messages about its rows), or indices into an .npz's arrays."""
    csv = path.suffix == ".csv"
    for name, values in part.y.items():
        rows = seen + csv + np.flatnonzero(~labelled_rows(values))
        if len(rows):
            shown = ", ".join(map(str, rows[:8])) + (", ..." if len(rows) > 8 else "")
            where = f"in data row{'s' if len(rows) > 1 else ''}" if csv else "at index"
            raise ConfigError(
                Problem(
                    "--input",
                    f"{path.name} has no target for {name} {where} {shown}",
                    f"evaluate scores labelled rows: fill or drop those; dlcli predict RUN --input {path} labels every row",
                )
            )


def no_split(dataset, name: str, verb: str) -> ConfigError:
    """--split names a split the run does not have: the ones it has, or a file, instead."""
    have = [s for s in ("test", "val", "train") if getattr(dataset, s) is not None]
    return ConfigError(
        Problem(
            "--split",
            f"the run has no {name} split",
            f"try {' or '.join(f'--split {s}' for s in have)}, or {verb} a file with --input",
        )
    )


def _as_input(problem: Problem, path: Path, overridden: tuple[str, ...] = ()) -> Problem:
    """A problem of a --input file, keyed by the option; the data.* key it came from stays in the hint
    (or stays the key, when this command line set it)."""
    message = problem.message if path.name in problem.message else f"{path.name}: {problem.message}"
    hint = problem.hint
    if problem.key and any(problem.key == k or problem.key.startswith(k + ".") for k in overridden):
        return problem  # the user's own data.* override: blamed as such
    if problem.key and problem.key != "--input":
        hint = f"{hint + '; ' if hint else ''}the run's {problem.key} picks what is read (see its config.yaml)"
    return Problem("--input", message, hint, code=problem.code)


# What evaluate and predict may override: where the run's files now are, and how they are read. The
# columns, the splits' fractions and seed, data.limit, data.stream (which cuts the splits otherwise) and
# the loader's options decide which rows and values the model sees, so changing them would score other
# data, or training rows as test rows, under the run's name. A misspelt data key is left to Hydra.
_REOPEN_KEYS = tuple(
    f"data.{k}" for k in ("path", "train_path", "val_path", "test_path", "workers", "delimiter", "header")
)
_DATA_FIELDS = {f.name for f in fields(DataConfig)}


def _kept(key: str, saved: DictConfig) -> bool:
    """Whether an override is one the run's own settings refuse: any key but where its files are; and a
    val or test file for a run that cut that split from its data file (it would cut the others again)."""
    if key in ("data.val_path", "data.test_path"):
        return not saved.data.get(key.removeprefix("data."))
    return key not in _REOPEN_KEYS and (not key.startswith("data.") or key.split(".")[1] in _DATA_FIELDS)


def open_run(path: Path, overrides: list[str] = (), trust_code: bool = False) -> Run:
    """`trust_code`: load a model.keras that holds Python code (a Lambda layer), which Keras' safe
    mode refuses because loading it runs that code (the commands' --trust-code)."""
    from dlcli import backend
    from dlcli.config import check_saved, compose_saved, validate

    saved = cfg = rundir.load_config(path)
    kept = [k for k in (item.lstrip("+~").split("=", 1)[0] for item in overrides) if _kept(k, saved)]
    if overrides:
        try:
            cfg = compose_saved(saved, path / rundir.MARKER, list(overrides))
        except ConfigError:
            if not kept:
                raise
            cfg = None
        for (
            key
        ) in kept:  # the model is trained: only where its files are may change (the run's own value may be repeated)
            if cfg is None or OmegaConf.select(cfg, key) != OmegaConf.select(saved, key):
                raise ConfigError(
                    Problem(
                        key,
                        "a finished run keeps its model, preprocessing, columns, splits and training settings: only"
                        f" where its files are and how they are read may be overridden ({', '.join(_REOPEN_KEYS)};"
                        " a val or test file only where the run had one)",
                        "e.g. data.path=moved/train.csv; score another file with --input FILE",
                    )
                )
    else:
        check_saved(cfg, path / rundir.MARKER)
    graph = validate(cfg)
    model_file = path / "model.keras"
    if not model_file.is_file() and (path / "fold-1").is_dir():
        raise ConfigError(
            Problem(
                "RUN",
                f"{path} is a K-fold run: its models are in fold-1/ ... fold-{cfg.train.kfold}/",
                f"give one fold instead, e.g. {path / 'fold-1'}",
            )
        )
    if not model_file.is_file():
        raise ConfigError(
            Problem(
                "RUN",
                f"{path} has no model.keras (the run did not finish)",
                f"resume it (dlcli train --resume {path}) or evaluate a finished run",
            )
        )
    keras = backend.setup()
    from dlcli.data.io import ModelIO
    from dlcli.graph import registry

    registry.load_plugins(list(cfg.plugins))
    try:
        with backend.precision(cfg.train.precision):  # mixed_float16: the optimizer Keras compiles it with, as trained
            model = keras.saving.load_model(model_file, safe_mode=not trust_code)
    except Exception as exc:  # Keras says "File not found" of a file that is there but damaged
        if _refused_by_safe_mode(exc):
            raise ConfigError(
                Problem(
                    "RUN",
                    f"{model_file} holds Python code (a Lambda layer or a lambda function) that Keras' safe mode will not run",
                    "loading it runs that code: if you trust where this file came from, add --trust-code",
                )
            ) from exc
        raise ConfigError(
            Problem(
                "RUN",
                f"{model_file} cannot be read: it is damaged or not a .keras file",
                f"{path / 'checkpoints' / 'last.keras'} holds the same final weights: copy it over model.keras",
            )
        ) from exc
    overridden = tuple(item.lstrip("+~").split("=", 1)[0] for item in overrides)
    return Run(path, cfg, model, ModelIO.of(model, graph), read_preprocess(path), overridden)


def check_data_unchanged(run_dir: Path, data_cfg) -> None:
    """`train --resume` cuts the run's splits again from its data file and refits the preprocessing on
    them: refused when the file changed since the run trained (`dlcli.data.check_unchanged`). A K-fold
    run keeps its record in each fold; a run from before records were kept is not checked."""
    from dlcli import data

    for where in (run_dir, run_dir / "fold-1"):
        if (where / "preprocess.json").is_file():
            data.check_unchanged(data_cfg, read_preprocess(where).get("state") or {})
            return


def read_preprocess(run_dir: Path) -> dict:
    """The run's preprocess.json: the preprocessing fitted on its training split.

    Every run writes it before training, so a finished run without a readable one is
    damaged: predicting without the fitted scaler would feed the model data it never saw.
    """
    file = run_dir / "preprocess.json"
    hint = "it holds the preprocessing fitted when the run trained: restore it from a copy of the run, or train again"
    if not file.is_file():
        what = "is not a file" if file.exists() else "is missing"
        raise ConfigError(Problem("RUN", f"{file} {what}", hint))
    try:
        saved = json.loads(file.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(Problem("RUN", f"{file} is damaged: byte {exc.start} is not UTF-8 text", hint)) from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(
            Problem("RUN", f"{file} is damaged: not JSON (line {exc.lineno}, column {exc.colno})", hint)
        ) from exc
    state = saved.get("state", {}) if isinstance(saved, dict) else None
    parts = [state.get(k, {}) for k in ("x", "y", "classes", "columns", "negative")] if isinstance(state, dict) else []
    scalers = [*parts[0].values(), *parts[1].values()] if parts and all(isinstance(p, dict) for p in parts) else None
    if scalers is None or not all(isinstance(s, dict) and {"offset", "scale"} <= set(s) for s in scalers):
        raise ConfigError(Problem("RUN", f"{file} is not the preprocessing record dlcli writes", hint))
    return saved


def _refused_by_safe_mode(exc: BaseException | None) -> bool:
    """Keras' safe mode refused to deserialize code (its message names `safe_mode`), here or in a cause."""
    while exc is not None:
        if "safe_mode" in str(exc) or "unsafe_deserialization" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False
