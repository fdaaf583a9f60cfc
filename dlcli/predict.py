"""A finished run's predictions on new samples, or on one of its own splits.

Features go through the run's saved preprocessing (nothing is refit), and the
model's outputs come back as the data gave its targets: class labels with the
probability of each class, or regression values in original units. Where the
samples are labelled, each output's true value sits beside the prediction.
An output of several values a sample (an image, a sequence, several labels)
stays one array in its full shape, written to `.npz` only.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import zipfile
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from dlcli.data import by_name, for_model
from dlcli.errors import ConfigError, Problem
from dlcli.evaluation import apply_threshold, probabilities, saved_thresholds
from dlcli.runs.load import file_targets, labelled_rows, no_split
from dlcli.runs.rundir import atomic_write


@dataclass
class Predictions:
    """The predictions of one batch of samples (or of a whole split held in memory)."""

    frame: object  # a pandas DataFrame, one row per sample: the outputs of one value a sample, as columns
    shown: object  # the same rows, a few columns: each output's truth, prediction and its probability
    # output -> (accuracy or mae, sum of the per-value scores, how many values), where targets were given
    scores: dict[str, tuple[str, float, int]]
    # Outputs of several values a sample (an image, a sequence, several labels), full shape: `.npz` only.
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    # array -> its columns' names, for a regression of several named target columns: each column has units
    # of its own (a price, a tax), so its range and error are shown on their own, never pooled
    named: dict[str, list[str]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.frame) if len(self.frame.columns) else len(next(iter(self.arrays.values())))

    @property
    def suffix(self) -> str:
        """The file type that holds every output: CSV columns, or `.npz` once an output has a shape."""
        return ".npz" if self.arrays else ".csv"


@dataclass
class Written:
    """What the terminal shows of predictions written batch by batch: totals over every batch."""

    rows: int  # how many rows of `shown` to keep
    count: int = 0
    shown: object = None  # the first `rows` rows of the batches' `shown`
    sums: dict[str, list] = field(default_factory=dict)  # output -> [metric, sum, values]
    ranges: dict[str, list] = field(default_factory=dict)  # array -> [shape, min, max, sum] (numbers only)

    def add(self, batch: Predictions) -> None:
        import pandas as pd

        self.count += len(batch)
        if self.shown is None or len(self.shown) < self.rows:
            head = batch.shown.head(self.rows)
            self.shown = head if self.shown is None else pd.concat([self.shown, head], ignore_index=True)
        for name, (metric, total, n) in batch.scores.items():
            seen = self.sums.setdefault(name, [metric, 0.0, 0])
            seen[1:] = [seen[1] + total, seen[2] + n]
        for name, a in batch.arrays.items():
            if name in batch.named:
                for i, column in enumerate(batch.named[name]):
                    self._range(f"{name} {column}", a[:, i])
            else:
                self._range(name, a)

    def _range(self, name: str, a: np.ndarray) -> None:
        numeric = a.dtype.kind in "biuf" and a.size
        seen = self.ranges.setdefault(name, [a.shape[1:], np.inf, -np.inf, 0.0, 0] if numeric else [a.shape[1:]])
        given = a[~np.isnan(a)] if numeric and a.dtype.kind == "f" else a  # a true value left empty counts for nothing
        if numeric and given.size:
            seen[1:] = [
                min(seen[1], given.min()),
                max(seen[2], given.max()),
                seen[3] + given.sum(dtype="float64"),
                seen[4] + given.size,
            ]

    @property
    def scores(self) -> dict[str, tuple[str, float]]:
        """output -> (accuracy or mae, its value over every batch), for outputs some sample had a target for."""
        return {name: (metric, total / n) for name, (metric, total, n) in self.sums.items() if n}

    def summary(self) -> list[str]:
        """One line per array (per column of a `named` one): its shape and range (thousands of values are not
        shown one by one)."""
        lines = []
        for name, seen in self.ranges.items():
            parts = [f"shape {(self.count, *seen[0])}"] if seen[0] else []
            if len(seen) > 1:
                parts.append(f"min {seen[1]:.4g}  max {seen[2]:.4g}  mean {seen[3] / seen[4]:.4g}")
            lines.append(f"{name}: " + "  ".join(parts))
        return lines


def on_file(run, path: Path, batch_size: int | None = None) -> Iterator[Predictions]:
    """Predictions of a file of samples, read a chunk at a time (Run.batches), in batches of `batch_size`
    (default: the run's train.batch_size)."""
    size = batch_size or run.cfg.train.batch_size
    pre, thresholds = run.preprocessor(), saved_thresholds(run.path)
    for part, features in run.batches(path, size):
        predicted = run.model.predict(for_model(features), batch_size=size, verbose=0)
        truth = {name: _given(pre, name, values, path) for name, values in part.y.items()}
        yield _table(pre, predicted, truth, thresholds)


def _given(pre, name: str, values: np.ndarray, path: Path) -> np.ndarray:
    """A file's targets as the data spelt them (checked as the run's labels); a sample whose target cell is
    empty is predicted all the same, its truth left empty (NaN) and unscored."""
    known = labelled_rows(values)
    decoded = pre.decode(file_targets(pre, {name: values[known]}, path)[name], name)
    if known.all():
        return decoded
    kind = "f" if np.asarray(decoded).dtype.kind in "biuf" else "O"  # numbers stay numbers, in an .npz too
    truth = np.full((len(values), *np.shape(decoded)[1:]), np.nan, dtype=kind)
    truth[known] = decoded
    return truth


def on_split(run, name: str, batch_size: int | None = None) -> Iterator[Predictions]:
    """Predictions of one of the run's splits: batch by batch where it streams from files, else at once."""
    dataset = run.dataset()
    split = getattr(dataset, name)
    if split is None:
        raise no_split(dataset, name, "predict")
    pre, thresholds = dataset.preprocessor, saved_thresholds(run.path)
    rows, done = dataset.source_rows.get(name), 0
    for predicted, encoded in split.predictions(run.model, batch_size or run.cfg.train.batch_size):
        truth = by_name(encoded, [o.name for o in pre.io.outputs])
        decoded = {name: pre.decode(values, name) for name, values in truth.items()}
        table = _table(pre, predicted, decoded, thresholds)
        if rows is not None:  # where each sample came from, to join the predictions back to the data's rows
            table.frame.insert(0, "source_row", rows[done : done + len(table)])
            done += len(table)
        yield table


def write(batches: Iterable[Predictions], path: Path, rows: int = 10) -> Written:
    """Batches of predictions to a CSV, or an `.npz` of one array per column and per shaped output (its
    full shape), as they come: nothing is held whole. The file appears only once every batch is in."""
    written = Written(rows)
    with atomic_write(path) as tmp, ExitStack() as stack:
        if path.suffix == ".npz":
            chunks = stack.enter_context(_Chunks(path))
        else:
            csv = stack.enter_context(open(tmp, "w", newline="", encoding="utf-8"))
        for batch in batches:
            if path.suffix == ".csv" and batch.arrays:
                name, array = next(iter(batch.arrays.items()))
                raise ConfigError(
                    Problem(
                        "--output",
                        f"{name} has {int(np.prod(array.shape[1:]))} values a sample, shaped {list(array.shape[1:])}: "
                        "a CSV row cannot hold that shape",
                        f"write an .npz (--output {path.with_suffix('.npz').name}): one array per output, in its full shape",
                    )
                )
            if path.suffix == ".npz":
                chunks.add({**{str(c): batch.frame[c].to_numpy() for c in batch.frame.columns}, **batch.arrays})
            else:
                batch.frame.to_csv(csv, index=False, header=not written.count)
            written.add(batch)
        if path.suffix == ".npz":
            chunks.save(tmp)
    return written


class _Chunks:
    """Arrays written a batch at a time to raw files in a temporary folder beside `path`, then saved as
    one `.npz` (deflated, as numpy.savez_compressed writes it) that np.load reads without pickle."""

    def __init__(self, path: Path):
        self.path = path
        self.parts: dict[str, list[tuple[np.dtype, int]]] = {}  # array -> (dtype, rows) of each batch
        self.shapes: dict[str, tuple] = {}

    def __enter__(self):
        self.folder = Path(tempfile.mkdtemp(dir=self.path.parent, prefix=f".{self.path.name}."))
        return self

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def add(self, arrays: dict[str, np.ndarray]) -> None:
        for name, a in arrays.items():
            a = np.ascontiguousarray(a.astype(str) if a.dtype == object else a)  # strings load without pickle
            self.parts.setdefault(name, []).append((a.dtype, len(a)))
            self.shapes[name] = a.shape[1:]
            with open(self.folder / str(list(self.parts).index(name)), "ab") as raw:
                raw.write(a.tobytes())

    def save(self, file: Path) -> None:
        """Each array as a zip member: an .npy header with the final shape and type, then its batches."""
        with zipfile.ZipFile(file, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
            for i, (name, parts) in enumerate(self.parts.items()):
                dtype = np.result_type(*(d for d, _ in parts))  # strings: the longest batch's width
                header = {
                    "descr": np.lib.format.dtype_to_descr(dtype),
                    "fortran_order": False,
                    "shape": (sum(n for _, n in parts), *self.shapes[name]),
                }
                with zf.open(f"{name}.npy", "w", force_zip64=True) as member, open(self.folder / str(i), "rb") as raw:
                    np.lib.format.write_array_header_1_0(member, header)
                    per_row = int(np.prod(self.shapes[name], dtype=np.int64))
                    for part_dtype, n in parts:
                        a = np.frombuffer(raw.read(n * per_row * part_dtype.itemsize), part_dtype, n * per_row)
                        member.write(a.astype(dtype, copy=False).tobytes())


def _table(pre, predicted, truth: dict[str, np.ndarray], thresholds: dict[str, dict]) -> Predictions:
    """`thresholds`: those `evaluate --threshold` saved with the run, by binary output."""
    import pandas as pd

    columns: dict[str, np.ndarray] = {}
    shown: dict[str, np.ndarray] = {}
    arrays: dict[str, np.ndarray] = {}
    named: dict[str, list[str]] = {}
    scores = {}
    outputs = by_name(predicted, [o.name for o in pre.io.outputs])
    for name, values in outputs.items():
        spec, kind = next(o for o in pre.io.outputs if o.name == name), pre.kind(name)
        if kind in ("ids", "multihot", "soft"):  # logits (from_logits: true) as the probabilities they stand for
            values = probabilities(values, spec).astype("float32")
        cut = values if name not in thresholds else apply_threshold(values, thresholds[name]).astype("float32")
        decoded = pre.decode(cut, name)
        brief = "" if len(outputs) == 1 else f"{name} "
        if np.asarray(decoded).reshape(len(decoded), -1).shape[1] > 1:  # an image, a sequence, several labels
            arrays[name] = np.asarray(decoded)
            labels = pre.target_columns(name, np.shape(decoded)[-1]) if kind == "values" else None
            if labels and np.ndim(decoded) == 2:
                named[name] = named[f"{name}_true"] = labels
            if name in truth:
                arrays[f"{name}_true"] = np.asarray(truth[name]).reshape(np.shape(decoded))
                if name in named:  # as evaluate's report: a figure per column, in its own units
                    for i, column in enumerate(named[name]):
                        scores[f"{name} {column}"] = _score(kind, arrays[name][:, i], arrays[f"{name}_true"][:, i])
                else:
                    scores[name] = _score(kind, decoded, truth[name])
            continue
        if name in truth:
            columns.update(_columns(f"{name}_true", truth[name]))
            shown.update(_columns(f"{brief}true", truth[name]))
            scores[name] = _score(kind, decoded, truth[name])
        columns.update(_columns(name, decoded))
        shown.update(_columns(f"{brief}predicted", decoded))
        if kind == "ids":
            probs = values.reshape(len(values), -1)
            if spec.kind == "binary" and probs.shape[1] == 1:  # one unit: the probability of class 1
                columns[f"{name}_prob_{pre.class_names(name, 2)[1]}"] = probs[:, 0]
                probs = np.concatenate([1 - probs, probs], axis=1)
            else:
                columns.update({f"{name}_prob_{c}": p for c, p in zip(pre.class_names(name, probs.shape[1]), probs.T)})
            picked = probs.argmax(axis=1) if name not in thresholds else np.asarray(cut, "int64").reshape(-1)
            shown[f"{brief}probability"] = probs[np.arange(len(probs)), picked]  # of the label predicted
    return Predictions(pd.DataFrame(columns), pd.DataFrame(shown), scores, arrays, named)


def _columns(name: str, values: np.ndarray) -> dict[str, np.ndarray]:
    flat = np.asarray(values).reshape(len(values), -1)
    if flat.shape[1] == 1:
        return {name: flat[:, 0]}
    return {f"{name}_{i}": flat[:, i] for i in range(flat.shape[1])}


def _score(kind: str, predicted: np.ndarray, true: np.ndarray) -> tuple[str, float, int]:
    """MAE for numbers (soft probabilities and reconstructed inputs too), else the share of labels right:
    as (metric, sum, count), to add up over batches; samples without a true value count for nothing."""
    known = labelled_rows(np.asarray(true))
    predicted, true = np.asarray(predicted)[known], np.asarray(true)[known]
    if kind in ("values", "soft", "input"):
        errors = np.abs(np.asarray(predicted, "float64") - np.asarray(true, "float64").reshape(np.shape(predicted)))
        return "mae", math.fsum(errors.reshape(-1)), errors.size
    predicted, true = np.asarray(predicted), np.asarray(true).reshape(np.shape(predicted))
    if predicted.dtype.kind in "biuf" and true.dtype.kind in "biuf":  # 1 and 1.0 (a column that held an empty cell)
        right = predicted.astype("float64") == true.astype("float64")
    else:
        right = predicted.astype(str) == true.astype(str)
    return "accuracy", int(right.sum()), right.size
