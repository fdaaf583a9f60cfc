"""Checks of `data:` (and `train.kfold`) that need neither data nor Keras.

Run by `dlcli.config.validate` right after composing; every problem is
collected so users see them all at once. Whether the files exist (`files`)
and what needs the data itself (columns, NaN, empty splits, feature counts)
is checked when the data is read (`dlcli.data.read`), still before Keras is
imported, so `dlcli check` builds a model whose data is not there yet.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from dlcli.data import sources
from dlcli.data.io import ModelIO
from dlcli.data.preprocess import LABELS, SCALERS, SIDES
from dlcli.errors import Collector, ConfigError, Problem, did_you_mean

FILE_SOURCES = ("npz", "csv")


def check(cfg: DictConfig, graph, problems: Collector) -> None:
    data = cfg.data
    if data.source not in sources.names():
        problems.add(
            "data.source",
            f"unknown data source {data.source!r}",
            did_you_mean(data.source, sources.names()) or "valid: " + ", ".join(sources.names()),
        )
    _paths(data, problems)
    _options(data, problems)
    _fractions(cfg, problems)
    if graph is not None:
        _against_model(data, ModelIO.from_graph(graph), problems)


def files(data: DictConfig) -> None:
    """Every missing data file at once, with one hint on where to get them (run when the data is read)."""
    keys = [key for key in ("path", "train_path", "val_path", "test_path") if data.get(key)]
    if data.source in FILE_SOURCES and not data.stream:
        folders = [key for key in keys if Path(data[key]).expanduser().is_dir()]
        if folders:
            raise ConfigError(
                [
                    Problem(
                        f"data.{key}",
                        f"{data[key]!r} is a directory",
                        f"set data.stream=true to read every .{data.source} file in it batch by batch, or name one file",
                    )
                    for key in folders
                ]
            )
    missing = [key for key in keys if not _exists(data[key], data.stream)]
    if not missing:
        return
    problems = [sources.missing_file(data[key], f"data.{key}", None) for key in missing]
    keys = " ".join(f"data.{key}=..." for key in missing)
    where = "put it there" if len(missing) == 1 else "put them there"
    problems[-1].hint = (
        f"{data.origin.rstrip('.')}; {where}, or pass {keys}" if data.origin else f"{where}, or pass {keys}"
    )
    raise ConfigError(problems)


def _paths(data: DictConfig, problems: Collector) -> None:
    if data.path and data.train_path:
        problems.add(
            "data.path",
            "both data.path (one file split by fractions) and data.train_path (given splits) are set",
            "set one of them to null",
        )
    if data.source in FILE_SOURCES and not (data.path or data.train_path):
        problems.add(
            "data.path", f"the {data.source} source needs data.path (or data.train_path, data.val_path, data.test_path)"
        )
    if data.source in FILE_SOURCES:
        for key in ("path", "train_path", "val_path", "test_path"):
            other = next(
                (s for s in FILE_SOURCES if s != data.source and str(data.get(key) or "").endswith(f".{s}")), None
            )
            if other:
                problems.add(
                    f"data.{key}",
                    f"{data[key]} ends in .{other}, but data.source is {data.source}",
                    f"read it with data={other}",
                )
    if data.stream and data.source not in FILE_SOURCES:
        problems.add(
            "data.stream",
            f"streaming reads npz or csv files; source {data.source!r} is loaded into memory",
            "set data.stream=false, or save the data as npz/csv files",
        )
    if data.source not in FILE_SOURCES and data.source in sources.names():
        for key in ("train_path", "val_path", "test_path"):
            if data.get(key):
                problems.add(
                    f"data.{key}", f"given split files are read by the npz and csv sources, not {data.source!r}"
                )
        if data.path and data.source not in sources.KERAS_SETS:
            problems.add(
                "data.path", f"source {data.source!r} reads no file", "use source=npz or source=csv for local files"
            )


def _exists(value: str, stream: bool) -> bool:
    if Path(value).expanduser().exists():
        return True
    return stream and any(ch in value for ch in "*?[") and bool(glob.glob(os.path.expanduser(value)))


def _options(data: DictConfig, problems: Collector) -> None:
    pre = data.preprocess
    for key, options in (
        ("scaler", SCALERS),
        ("target_scaler", SCALERS),
        ("labels", LABELS),
        ("padding", SIDES),
        ("truncating", SIDES),
    ):
        if pre[key] not in options:
            problems.add(
                f"data.preprocess.{key}",
                f"expected one of {', '.join(options)}, got {pre[key]!r}",
                did_you_mean(pre[key], options),
            )
    if data.source == "csv" and len(sources.delimiter(data)) != 1:
        problems.add(
            "data.delimiter",
            f"expected one character, got {data.delimiter!r}",
            "for a tab: data.delimiter=tab; for ';' on the command line: \"data.delimiter=';'\"",
        )
    for key, node in (("limit", data), ("workers", data), ("samples", data), ("maxlen", pre), ("divide_by", pre)):
        value = node[key]
        if value is not None and value <= 0:
            where = f"data.{key}" if node is data else f"data.preprocess.{key}"
            problems.add(where, f"expected a positive number, got {value}")
    if pre.reshape is not None and any(d <= 0 for d in pre.reshape):
        problems.add("data.preprocess.reshape", f"expected positive sizes, got {list(pre.reshape)}")


def _fractions(cfg: DictConfig, problems: Collector) -> None:
    data, train = cfg.data, cfg.train
    for key in ("val_split", "test_split"):
        if not 0 <= data[key] < 1:
            percent = 1 <= data[key] < 100
            problems.add(
                f"data.{key}",
                f"expected a fraction in [0, 1), got {data[key]:g}",
                f"for {data[key]:g}%, write {data[key] / 100:g}" if percent else None,
            )
    if train.kfold == 1 or train.kfold < 0:
        problems.add("train.kfold", f"expected 0 (off) or a number of folds of 2 or more, got {train.kfold}")
    if train.fold is not None and not 1 <= train.fold <= train.kfold:
        problems.add(
            "train.fold",
            f"expected a fold in 1..{train.kfold}, got {train.fold}"
            if train.kfold >= 2
            else "train.fold picks one fold of train.kfold=K; set train.kfold too",
        )


def _against_model(data: DictConfig, io: ModelIO, problems: Collector) -> None:
    """Mappings name real inputs and outputs; label options fit the losses."""
    for key, specs in (("features", io.inputs), ("target", io.outputs)):
        value = data.get(key)
        if isinstance(value, DictConfig):
            names = [s.name for s in specs]
            kind = "input" if key == "features" else "output"
            for name in value:
                if name not in names:
                    problems.add(
                        f"data.{key}.{name}",
                        f"the model has no {kind} {name!r}",
                        did_you_mean(name, names) or f"{kind}s: {', '.join(names)}",
                    )
            unknown = [name for name in value if name not in names]
            for name in names:
                if name not in value and not unknown:  # (a misspelt name is the problem named above)
                    problems.add(
                        f"data.{key}",
                        f"gives no data for the model's {kind} {name!r}",
                        f"add {name}: COLUMNS, so that every {kind} ({', '.join(names)}) has its data",
                    )
    for problem in sources.target_problems(data, io):
        problems.add(problem.key, problem.message, problem.hint)
    pre = OmegaConf.to_container(data.preprocess)
    echo = sources.echoes(data, io)
    for out in io.outputs:
        where = f"model.outputs.{out.name}.loss"
        if pre["labels"] == "soft" and out.kind not in ("binary", "one_hot") and out.name not in echo:
            problems.add(
                "data.preprocess.labels",
                f"soft labels are probabilities for a cross-entropy; output {out.name!r} has loss {out.loss_name}",
                f"{where}=binary_crossentropy (one unit a label) or categorical_crossentropy (a distribution)",
            )
        if pre["labels"] == "multihot" and out.kind != "binary" and out.name not in echo:
            problems.add(
                "data.preprocess.labels",
                f"multihot labels (several 0/1 labels a sample) take binary_crossentropy; output {out.name!r} has {out.loss_name}",
                f"{where}=binary_crossentropy, with one sigmoid unit a label",
            )
        if pre["labels"] == "one_hot" and out.kind == "sparse":
            problems.add(
                "data.preprocess.labels",
                f"one_hot labels do not fit output {out.name!r}: its loss {out.loss_name} takes integer class ids",
                f"set data.preprocess.labels=auto (or sparse), or {where}=categorical_crossentropy",
            )
        if pre["labels"] == "sparse" and out.kind == "one_hot":
            problems.add(
                "data.preprocess.labels",
                f"sparse labels do not fit output {out.name!r}: its loss {out.loss_name} takes one-hot vectors",
                f"set data.preprocess.labels=auto (or one_hot), or {where}=sparse_categorical_crossentropy",
            )
    kinds = {o.kind for o in io.outputs}
    if pre["positive"] is not None and kinds == {"regression"}:
        problems.add(
            "data.preprocess.positive",
            "makes binary labels, but every output has a regression loss",
            "use binary_crossentropy for a 0/1 target",
        )
    if pre["target_scaler"] != "none" and "regression" not in kinds:
        problems.add(
            "data.preprocess.target_scaler",
            "scales regression targets, but every output has a classification loss",
            "set data.preprocess.target_scaler=none",
        )
    whole = [f"{i.name!r} ({i.dtype})" for i in io.inputs if "int" in i.dtype]
    if len(whole) == len(io.inputs):  # token ids, an Embedding's input: scaling them would change which token
        for key, off in (("scaler", "none"), ("divide_by", None)):
            if pre[key] not in (off, "none", 0):
                problems.add(
                    f"data.preprocess.{key}",
                    f"scales float inputs, but every model input takes integers: {', '.join(whole)}",
                    f"drop data.preprocess.{key} (integer inputs are ids, never scaled)",
                )
    if len(io.inputs) > 1 and pre["reshape"]:
        problems.add(
            "data.preprocess.reshape", f"applies to a single input; the model has {len(io.inputs)} ({io.input_names()})"
        )
