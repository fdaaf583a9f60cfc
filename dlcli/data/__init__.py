"""Data for a run: source -> splits -> preprocessing fit on the training split.

Two halves, so that data mistakes are reported before JAX is imported:
`read` needs only the parsed config (input names and shapes, losses) and does
everything numpy, pandas and scikit-learn can: read the files, check columns
and NaN, split, fit the preprocessing on the training split, shape and scale
the features. `load` finishes with what only the built model knows (each
output's units, for one-hot labels), and runs the whole pipeline itself for
sources that need the model (Keras' sets, synthetic).

The same config, seed and fold always give the same splits; `evaluate` passes
the run's saved preprocessing `state`, so nothing is refit on val or test.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from dlcli.data import checks, shards, sources, splits
from dlcli.data.io import ModelIO
from dlcli.data.preprocess import Preprocessor
from dlcli.data.shards import Rows
from dlcli.data.splits import Fold, Part
from dlcli.errors import ConfigError, Problem
from dlcli.foreign import plain


@dataclass
class Split:
    """One split as Keras takes it: arrays in memory, rows of files streamed in batches, or (to score
    a file too big to hold) chunks of one file read anew each time the split is gone through."""

    x: Any = None  # an array for a single-input model, else a dict by input name
    y: Any = None
    rows: Rows | None = None
    make_batch: Callable[[Part], tuple] | None = None
    workers: int = 2
    seed: int = 0
    chunks: Callable[[], Iterator[tuple[Any, Any]]] | None = None  # (x, y) chunks, each a multiple of the batch

    def __len__(self) -> int:
        if self.rows is not None:
            return len(self.rows)
        return len(next(iter(self.x.values())) if isinstance(self.x, dict) else self.x)

    def fit_args(self, batch_size: int, shuffle: bool) -> dict[str, Any]:
        """Keyword arguments of `model.fit` for this split as training data."""
        if self.rows is not None:  # the sequence shuffles file by file; Keras' shuffle would mix files
            return {"x": self.sequence(batch_size, shuffle), "shuffle": False}
        return {"x": self.x, "y": self.y, "batch_size": batch_size, "shuffle": shuffle}

    def eval_args(self, batch_size: int) -> dict[str, Any]:
        """Keyword arguments of `model.evaluate`."""
        if self.chunks is not None:
            return {"x": _batched(self.chunks(), batch_size)}
        if self.rows is not None:
            return {"x": self.sequence(batch_size, False)}
        return {"x": self.x, "y": self.y, "batch_size": batch_size}

    def validation_data(self, batch_size: int):
        return self.sequence(batch_size, False) if self.rows is not None else (self.x, self.y)

    def sequence(self, batch_size: int, shuffle: bool):
        from dlcli.data.stream import ShardSequence

        return ShardSequence(self.rows, self.make_batch, batch_size, shuffle, self.seed, self.workers)

    def predict(self, model, batch_size: int) -> tuple[Any, Any]:
        """(predictions, targets) in the same order."""
        if self.rows is None and self.chunks is None:
            return model.predict(self.x, batch_size=batch_size, verbose=0), self.y
        batches = list(self.predictions(model, batch_size))
        return _concat([p for p, _ in batches]), _concat([y for _, y in batches])

    def predictions(self, model, batch_size: int) -> Iterator[tuple[Any, Any]]:
        """(predictions, targets) a batch at a time, file by file for streamed rows, a chunk at a time for
        chunks (in memory: all at once)."""
        if self.chunks is not None:
            for x, y in self.chunks():
                yield model.predict(x, batch_size=batch_size, verbose=0), y
            return
        if self.rows is None:
            yield self.predict(model, batch_size)
            return
        seq = self.sequence(batch_size, False)
        for i in range(len(seq)):
            bx, by = seq[i]
            yield model.predict_on_batch(bx), by


@dataclass
class Dataset:
    train: Split
    val: Split | None
    test: Split | None
    preprocessor: Preprocessor
    note: str | None = None
    # Positions in the source's pool of each split cut from it (given files are not in the pool).
    index: dict[str, np.ndarray] = field(default_factory=dict)
    # Each split's samples as rows of the one file (or set) they were read from (0: its first), in the
    # split's order, so that predictions join back to them; none for a split read from several files.
    source_rows: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class Read:
    """The Keras-free half: splits with features ready and targets as class ids or scaled values."""

    splits: dict[str, Part | Rows]
    preprocessor: Preprocessor
    note: str | None
    index: dict[str, np.ndarray]
    source_rows: dict[str, np.ndarray] = field(default_factory=dict)


def read(data_cfg, graph, seed: int, fold: Fold | None = None, state: dict | None = None) -> Read | None:
    """Everything that needs no Keras; None for sources that need the built model."""
    if sources.needs_model(data_cfg.source):
        checks.files(data_cfg)  # a local copy of a Keras set is still looked for before Keras is imported
        return None
    return _read(data_cfg, ModelIO.from_graph(graph), _seed(data_cfg, seed), fold, state)


def load(
    data_cfg, io: ModelIO, seed: int, state: dict | None = None, fold: Fold | None = None, done: Read | None = None
) -> Dataset:
    """Load, split and preprocess (or finish what `read` did). With `state`, reuse it instead of fitting."""
    seed = _seed(data_cfg, seed)
    done = done or _read(data_cfg, io, seed, fold, state)
    pre = done.preprocessor

    def finish(name: str, value: Part | Rows) -> Split:
        if isinstance(value, Rows):

            def make_batch(part):
                return for_model(pre.features(part.x)), for_model(pre.encode(pre.targets(part.y, name), io))

            return Split(rows=value, make_batch=make_batch, workers=data_cfg.workers, seed=seed)
        return Split(for_model(value.x), for_model(pre.encode(value.y, io)))

    made = {name: finish(name, value) for name, value in done.splits.items()}
    return Dataset(made["train"], made.get("val"), made.get("test"), pre, done.note, done.index, done.source_rows)


def _seed(data_cfg, seed: int) -> int:
    """`data.seed` when set, else the run's seed."""
    return seed if data_cfg.get("seed") is None else int(data_cfg.seed)


def notes(data_cfg, io: ModelIO) -> list[str]:
    """What the data pipeline does to fit the model, said before training (`check`): samples reshaped to
    the input's declared shape, samples that cannot be, and targets that are inputs."""
    out = []
    shape = sources.SAMPLE_SHAPES.get(data_cfg.source)
    if shape is not None and len(io.inputs) == 1 and not data_cfg.preprocess.reshape:
        spec = io.inputs[0]
        declared = tuple(spec.shape)
        if None not in declared and declared != shape:
            fits = int(np.prod(declared)) == int(np.prod(shape))
            out.append(
                f"data: {data_cfg.source} samples {shape} are reshaped to input {spec.name!r} {declared}"
                if fits
                else f"data: {data_cfg.source} samples {shape} do not fit input {spec.name!r} {declared}: "
                f"training will stop (set model.inputs.{spec.name}.shape={list(shape)})"
            )
    for output, name in sources.echoes(data_cfg, io).items():
        out.append(f"data: the target of {output!r} is input {name!r}, preprocessed as it is")
    return out


def original_units(model, split: Split, pre: Preprocessor, batch_size: int) -> dict[str, float]:
    """MAE and RMSE of target-scaled regression outputs, in the target's own units."""
    if not pre.scales_targets:
        return {}
    predicted, true = split.predict(model, batch_size)
    names = [o.name for o in pre.io.outputs]
    predicted, true = by_name(predicted, names), by_name(true, names)
    out = {}
    for name in pre.state["y"]:
        p = pre.inverse_targets(predicted[name], name).reshape(len(predicted[name]), -1)
        t = pre.inverse_targets(true[name], name).reshape(len(true[name]), -1)
        prefix = f"{name}_" if len(names) > 1 else ""
        # several named columns have units of their own: one figure each, never their average
        columns = pre.target_columns(name, p.shape[1])
        for i, column in enumerate(columns or [None]):
            errors = p - t if column is None else p[:, i] - t[:, i]
            key = prefix if column is None else f"{prefix}{column}_"
            out[f"{key}mae_original"] = float(np.mean(np.abs(errors)))
            out[f"{key}rmse_original"] = float(np.sqrt(np.mean(errors**2)))
    return out


def _read(cfg, io: ModelIO, seed: int, fold: Fold | None, state: dict | None) -> Read:
    checks.files(cfg)
    if state is not None:
        check_unchanged(cfg, state)
    # Targets that are inputs (an autoencoder's) are not read: they are the input's samples.
    source_cfg, source_io, echo = sources.without_echoes(cfg, io)
    pre = Preprocessor(dict(plain(cfg.preprocess, resolve=True)), io, state, echo)
    if cfg.stream:
        return _read_stream(source_cfg, source_io, seed, fold, pre, state, echo)
    raw = sources.get(cfg.source)(source_cfg, source_io, seed)
    pool, given = sources.with_echoes(raw.pool, echo), {}
    if raw.test is not None:
        given["test"] = sources.with_echoes(raw.test, echo)
    one_file = True  # whether the pool's positions are rows of one file
    if raw.val is not None:
        if fold is None:
            given["val"] = sources.with_echoes(raw.val, echo)
        else:  # the K validation folds come from training and validation data together
            pool, one_file = Part.concat([pool, sources.with_echoes(raw.val, echo)]), False
            merged = f"train.kfold: the {len(raw.val)} validation samples given join the training samples the folds are cut from"
            raw.note = f"{raw.note}; {merged}" if raw.note else merged
    # Before stratifying on the labels: a price is no class id, soft labels are no classes.
    for said in pre.check_labels(pool.y, pool.columns, 0 if one_file and cfg.source == "csv" else None):
        raw.note = f"{raw.note}; {said}" if raw.note else said
    labels = _stratify_on(pool.y, io, pre) if cfg.stratify else None
    index = splits.assign(len(pool), labels, cfg, seed, fold, tuple(given))
    parts = {name: pool.take(idx) for name, idx in index.items()} | given
    _check_classes({name: part.y for name, part in parts.items()}, tuple(given), cfg, pre)
    if state is None:
        _check_two_classes(pool.y, cfg, pre)
    if state is None:
        pre.fit([parts["train"]])
        pre.state["data_file"] = fingerprint(cfg)
    ready = {
        name: Part(pre.features(parts[name].x), pre.targets(parts[name].y, name))
        for name in ("train", "val", "test")
        if name in parts
    }
    source_rows = (index if one_file else {}) | {name: np.arange(len(part)) for name, part in given.items()}
    return Read(ready, pre, raw.note, index, source_rows)


def fingerprint(cfg) -> dict[str, Any]:
    """The file the splits are cut from (data.path, or data.train_path) as it is now: its size and SHA-256; for
    streamed files, each one's name and size (hashing data bigger than memory would cost a read of it all).
    Saved with the run, so that evaluate, predict and --resume, which cut the splits again, cut the same ones."""
    key = "train_path" if cfg.get("train_path") else "path"
    value = cfg.get(key)
    if cfg.source not in checks.FILE_SOURCES or not value:
        return {}
    saved = {"key": f"data.{key}", "path": _absolute(value)}
    if cfg.stream:
        found = shards.find(str(value), f"data.{key}", cfg.source, cfg.origin)
        return saved | {"files": [[f.name, f.stat().st_size] for f in found]}
    path = Path(value).expanduser()
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return saved | {"size": path.stat().st_size, "sha256": digest.hexdigest()}


def _absolute(value) -> str:
    """A data path as the run's saved config holds it: absolute (links not followed)."""
    return os.path.abspath(os.path.expanduser(str(value)))


def check_unchanged(cfg, state: dict) -> None:
    """Refuse to cut a run's splits again from its data file when the file changed since training: the rows
    in each split would not be the ones it trained and was scored on (test rows could be training rows).
    A file named elsewhere (an override such as data.path=moved/train.csv) must be the same file, moved: a
    different one is refused too. A run from before fingerprints were kept is not checked."""
    saved = state.get("data_file")
    value = cfg.get(saved["key"].removeprefix("data.")) if saved else None
    if not value:
        return
    now = fingerprint(cfg)
    if _absolute(value) != saved["path"]:
        if {k: v for k, v in now.items() if k != "path"} == {k: v for k, v in saved.items() if k != "path"}:
            return
        raise ConfigError(
            Problem(
                saved["key"],
                f"{_absolute(value)} is not the file the run trained on ({saved['path']}): the splits cut from it"
                " would not be the run's, so its test or validation rows could be rows it trained on",
                "to score another file, give it with --input FILE (every row is scored); to reopen the run's own"
                " data from a new place, name the same file, unchanged",
            )
        )
    if now == saved:
        return
    if "files" in saved:
        before, after = dict(map(tuple, saved["files"])), dict(map(tuple, now.get("files", [])))
        changed = sorted(n for n in before.keys() | after.keys() if before.get(n) != after.get(n))
        what = f"files changed: {', '.join(changed[:5])}{', ...' if len(changed) > 5 else ''}"
    elif now.get("size") != saved.get("size"):
        what = f"it was {saved['size']} bytes, it is {now.get('size')}"
    else:
        what = "its contents differ, at the same size"
    raise ConfigError(
        Problem(
            saved["key"],
            f"{saved['path']} changed since the run trained ({what}): the splits cut from it now would differ from"
            " the run's, so its test or validation rows could be rows it trained on",
            "restore the file the run trained on; to score other data, give it with --input (or train a new run)",
        )
    )


def _check_two_classes(targets: dict[str, np.ndarray], cfg, pre: Preprocessor) -> None:
    """A classification target with a single class teaches nothing: the model learns to say that class."""
    for name, values in targets.items():
        if not pre.classifies(name) or not len(values):
            continue
        values = pre.relabel(np.asarray(values), name)
        if values.ndim > 2:
            continue
        rows = values if values.ndim == 2 else values.reshape(-1, 1)
        distinct = np.unique(rows.astype(str), axis=0)
        positive = pre.config.get("positive")
        if len(distinct) != 1 or (positive is not None and distinct[0][0] != "1"):
            continue  # (no sample of the positive label at all: fitting says so, naming the label)
        what = os.path.basename(str(cfg.train_path or cfg.path or "")) or f"the {cfg.source} data"
        label = distinct[0][0] if rows.shape[1] == 1 else list(distinct[0])
        hint = (
            f"every sample has the positive label {positive!r} (data.preprocess.positive): there is no other class"
            if positive is not None
            else "a classifier needs samples of at least two classes; to predict a number, use a regression loss (mse)"
        )
        key = "data.target" if len(targets) == 1 else f"data.target.{name}"
        raise ConfigError(
            Problem(key, f"{what} has one class in its target: every one of its {len(rows)} samples is {label}", hint)
        )


def _check_classes(targets: dict[str, dict[str, np.ndarray]], given: tuple[str, ...], cfg, pre: Preprocessor) -> None:
    """Training sees every class val and test have; when not, say what caused it (data.limit, given files, an unstratified split)."""
    if "train" not in targets:
        return
    for name, train in targets["train"].items():
        if not pre.classifies(name):
            continue
        train = pre.relabel(np.asarray(train), name)
        if train.ndim != 1:  # one-hot rows
            continue
        seen = set(train.tolist())
        for split in ("val", "test"):
            values = pre.relabel(np.asarray(targets.get(split, {}).get(name, [])), name)
            unseen = sorted({str(v) for v in values.reshape(-1).tolist() if v not in seen})
            strings = values.dtype.kind in "OUS"
            if not unseen or not (strings or cfg.limit is not None):
                continue  # numeric labels the output has units for: allowed, as before
            labels = ", ".join(unseen[:5]) + (f" (and {len(unseen) - 5} more)" if len(unseen) > 5 else "")
            if cfg.limit is not None and len(train) >= cfg.limit:  # the limit cut the training split
                raise ConfigError(
                    Problem(
                        "data.limit",
                        f"keeps only {len(train)} training sample(s), too few: they never have label(s) {labels}, which the {split} split has",
                        "raise data.limit (it keeps the first N training samples), or set it to null",
                    )
                )
            if strings is False:
                continue
            if split in given:
                where = f"data.{split}_path"
                raise ConfigError(
                    Problem(
                        where,
                        f"{os.path.basename(str(cfg[f'{split}_path']))} has label(s) {labels} that the training data never has",
                        f"add rows with those labels to the training data, or drop them from {where}",
                    )
                )
            hint = (
                "drop those rows, or use more data"
                if cfg.stratify
                else "split by class (data.stratify=true) or drop those rows"
            )
            raise ConfigError(
                Problem(
                    "data.target", f"the {split} split has label(s) {labels} that the training split never has", hint
                )
            )


def _stratify_on(y: dict[str, np.ndarray], io: ModelIO, pre: Preprocessor) -> np.ndarray | None:
    """Class ids to stratify on: only targets that are class labels (not soft, multi-hot or inputs)."""
    return splits.class_labels({name: values for name, values in y.items() if pre.classifies(name)}, io)


def _read_stream(
    cfg, io: ModelIO, seed: int, fold: Fold | None, pre: Preprocessor, state: dict | None, echo: dict[str, str]
) -> Read:
    """`cfg` and `io` as the files are read: targets that are inputs (`echo`) left out."""
    read_file = sources.reader(cfg, io)
    # Every file is read by the column names of the first one read (the run's, when reopened), as given
    # val and test files and new samples are: a file with its columns in another order is no other data.
    columns = dict(state.get("columns") or {}) if state else {}

    def read(path, key: str) -> Part:
        part = read_file(path, key, False, columns or None)[0]
        columns.update(columns or part.columns)
        return sources.with_echoes(part, echo)

    def files(value: str, key: str):
        found = shards.find(value, key, cfg.source, cfg.origin)
        return shards.index(found, lambda path: read(path, key), pre.io, key)

    pool_key = "data.train_path" if cfg.train_path else "data.path"
    pool, targets, sample = files(cfg.train_path or cfg.path, pool_key)
    given = {
        split: files(cfg[f"{split}_path"], f"data.{split}_path") for split in ("val", "test") if cfg[f"{split}_path"]
    }
    if fold is not None and "val" in given:  # the K validation folds come from training and validation files together
        pool, targets = shards.merge((pool, targets), given.pop("val")[:2])
    pre.check_labels(targets)
    labels = _stratify_on(targets, pre.io, pre) if cfg.stratify else None
    index = splits.assign(len(pool), labels, cfg, seed, fold, tuple(given))
    _check_classes({name: {k: v[idx] for k, v in targets.items()} for name, idx in index.items()}, (), cfg, pre)
    if state is None:
        _check_two_classes(targets, cfg, pre)
    rows = {name: Rows(pool, idx) for name, idx in index.items()} | {
        name: Rows(s, np.arange(len(s))) for name, (s, _, _) in given.items()
    }
    if state is None:
        pre.fit(rows["train"].parts())
        pre.state["data_file"] = fingerprint(cfg)
    pre.features(sample.x)  # the first file's shapes and labels, checked before training starts
    pre.targets(sample.y, "train")
    return Read({name: rows[name] for name in ("train", "val", "test") if name in rows}, pre, None, index)


def for_model(arrays: dict[str, np.ndarray]):
    """A single input or output as a plain array, several as a dict by name."""
    return next(iter(arrays.values())) if len(arrays) == 1 else arrays


def by_name(values, names: list[str]) -> dict[str, np.ndarray]:
    """A model's outputs (one array, a list in output order, or a dict) as a dict by output name."""
    if isinstance(values, dict):
        return {k: np.asarray(v) for k, v in values.items()}
    if isinstance(values, (list, tuple)):
        return {k: np.asarray(v) for k, v in zip(names, values)}
    return {names[0]: np.asarray(values)}


def _batched(chunks: Iterator[tuple[Any, Any]], batch_size: int) -> Iterator[tuple[Any, Any]]:
    """(x, y) chunks as (x, y) batches, for Keras' `evaluate` of a Python generator."""
    for x, y in chunks:
        n = len(next(iter(x.values())) if isinstance(x, dict) else x)
        for start in range(0, n, batch_size):
            yield tuple(take(v, slice(start, start + batch_size)) for v in (x, y))


def take(values, pick):
    """The samples at `pick` (a slice or positions) of an array, or of each array of a dict by input name."""
    return {k: v[pick] for k, v in values.items()} if isinstance(values, dict) else values[pick]


def _concat(batches: list):
    if isinstance(batches[0], dict):
        return {k: np.concatenate([np.asarray(b[k]) for b in batches]) for k in batches[0]}
    return np.concatenate([np.asarray(b) for b in batches])
