"""A finished run's predictions on new samples, or on one of its own splits.

Features go through the run's saved preprocessing (nothing is refit), and the
model's outputs come back as the data gave its targets: class labels with the
probability of each class, or regression values in original units. Where the
samples are labelled, each output's true value sits beside the prediction.
An output of several values a sample (an image, a sequence, several labels)
stays one array in its full shape, written to `.npz` only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dlcli.data import by_name, for_model
from dlcli.errors import ConfigError, Problem
from dlcli.evaluation import apply_threshold, saved_thresholds
from dlcli.runs.rundir import atomic_write


@dataclass
class Predictions:
    frame: object  # a pandas DataFrame, one row per sample: the outputs of one value a sample, as columns
    shown: object  # the same rows, a few columns: each output's truth, prediction and its probability
    scores: dict[str, tuple[str, float]]  # output -> (accuracy or mae, value), where targets were given
    # Outputs of several values a sample (an image, a sequence, several labels), full shape: `.npz` only.
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.frame) if len(self.frame.columns) else len(next(iter(self.arrays.values())))

    @property
    def suffix(self) -> str:
        """The file type that holds every output: CSV columns, or `.npz` once an output has a shape."""
        return ".npz" if self.arrays else ".csv"

    def summary(self) -> list[str]:
        """One line per array: its shape and range (thousands of values are not shown one by one)."""
        return [
            f"{name}: shape {tuple(a.shape)}"
            + (
                f"  min {a.min():.4g}  max {a.max():.4g}  mean {a.mean():.4g}"
                if a.dtype.kind in "biuf" and a.size
                else ""
            )
            for name, a in self.arrays.items()
        ]


def on_file(run, path: Path, batch_size: int | None = None) -> Predictions:
    part, features = run.samples(path)
    pre = run.preprocessor()
    predicted = run.model.predict(for_model(features), batch_size=batch_size or run.cfg.train.batch_size, verbose=0)
    truth = {name: _as_given(pre, values, name) for name, values in part.y.items()}
    return _table(pre, predicted, truth, saved_thresholds(run.path))


def on_split(run, name: str, batch_size: int | None = None) -> Predictions:
    dataset = run.dataset()
    split = getattr(dataset, name)
    if split is None:
        raise ConfigError(
            Problem("--split", f"the run has no {name} split", "try --split val, or predict a file with --input")
        )
    predicted, encoded = split.predict(run.model, batch_size or run.cfg.train.batch_size)
    pre = dataset.preprocessor
    truth = by_name(encoded, [o.name for o in pre.io.outputs])
    decoded = {name: pre.decode(values, name) for name, values in truth.items()}
    return _table(pre, predicted, decoded, saved_thresholds(run.path))


def write(predictions: Predictions, path: Path) -> None:
    """CSV, or `.npz` with one array per column and per shaped output (its full shape)."""
    if path.suffix == ".csv" and predictions.arrays:
        name, array = next(iter(predictions.arrays.items()))
        raise ConfigError(
            Problem(
                "--output",
                f"{name} has {int(np.prod(array.shape[1:]))} values a sample, shaped {list(array.shape[1:])}: "
                "a CSV row cannot hold that shape",
                f"write an .npz (--output {path.with_suffix('.npz').name}): one array per output, in its full shape",
            )
        )
    frame = predictions.frame
    with atomic_write(path) as tmp:
        if path.suffix == ".npz":
            arrays = {**{str(c): frame[c].to_numpy() for c in frame.columns}, **predictions.arrays}
            np.savez_compressed(
                tmp, **{k: v.astype(str) if v.dtype == object else v for k, v in arrays.items()}
            )  # loads without pickle
        else:
            frame.to_csv(tmp, index=False)


def _as_given(pre, values: np.ndarray, name: str) -> np.ndarray:
    """A file's targets as labels comparable with the predictions (raw, if training never saw them)."""
    try:
        return pre.decode(pre.target(values, name, "input"), name)
    except ConfigError:
        return pre.relabel(np.asarray(values), name)


def _table(pre, predicted, truth: dict[str, np.ndarray], thresholds: dict[str, dict]) -> Predictions:
    """`thresholds`: those `evaluate --threshold` saved with the run, by binary output."""
    import pandas as pd

    columns: dict[str, np.ndarray] = {}
    shown: dict[str, np.ndarray] = {}
    arrays: dict[str, np.ndarray] = {}
    scores = {}
    outputs = by_name(predicted, [o.name for o in pre.io.outputs])
    for name, values in outputs.items():
        spec, kind = next(o for o in pre.io.outputs if o.name == name), pre.kind(name)
        cut = values if name not in thresholds else apply_threshold(values, thresholds[name]).astype("float32")
        decoded = pre.decode(cut, name)
        brief = "" if len(outputs) == 1 else f"{name} "
        if np.asarray(decoded).reshape(len(decoded), -1).shape[1] > 1:  # an image, a sequence, several labels
            arrays[name] = np.asarray(decoded)
            if name in truth:
                arrays[f"{name}_true"] = np.asarray(truth[name]).reshape(np.shape(decoded))
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
    return Predictions(pd.DataFrame(columns), pd.DataFrame(shown), scores, arrays)


def _columns(name: str, values: np.ndarray) -> dict[str, np.ndarray]:
    flat = np.asarray(values).reshape(len(values), -1)
    if flat.shape[1] == 1:
        return {name: flat[:, 0]}
    return {f"{name}_{i}": flat[:, i] for i in range(flat.shape[1])}


def _score(kind: str, predicted: np.ndarray, true: np.ndarray) -> tuple[str, float]:
    """MAE for numbers (soft probabilities and reconstructed inputs too), else the share of labels right."""
    if kind in ("values", "soft", "input"):
        return "mae", float(
            np.mean(np.abs(np.asarray(predicted, "float64") - np.asarray(true, "float64").reshape(np.shape(predicted))))
        )
    return "accuracy", float(
        np.mean(np.asarray(predicted).astype(str) == np.asarray(true).reshape(np.shape(predicted)).astype(str))
    )
