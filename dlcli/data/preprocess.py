"""Declared preprocessing, fit on the training split only and saved with the run.

`fit` learns from training data (scaler statistics, class names); `features`
and `targets` apply the same steps to any split, so `evaluate` reuses exactly
what training used. Everything here is numpy and scikit-learn: it runs before
Keras is imported. Only `encode` needs the built model (how many units each
output has). The fitted state is plain JSON: nothing is pickled.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Iterable

import numpy as np

from dlcli.data.io import BINARY_LOSSES, ONE_HOT_LOSSES, SPARSE_LOSSES, ModelIO, OutputSpec
from dlcli.data.splits import Part
from dlcli.errors import ConfigError, Problem, did_you_mean


class Choice(str, Enum):
    """One of a closed set of option strings, typed in the config schema so OmegaConf refuses others.

    OmegaConf matches a config's string against the members' *names*, so every
    member is named as its value. A member is a `str` equal to its value, and
    prints as it (as `enum.StrEnum` does, which Python 3.10 lacks), so consumers
    compare it with plain strings and saved configs hold plain strings.
    """

    __str__ = str.__str__
    __format__ = str.__format__

    def __repr__(self) -> str:
        return repr(self.value)


class Scaler(Choice):
    none = "none"
    standard = "standard"
    minmax = "minmax"


class Labels(Choice):
    auto = "auto"
    one_hot = "one_hot"
    sparse = "sparse"
    soft = "soft"
    multihot = "multihot"
    none = "none"


class Side(Choice):
    pre = "pre"
    post = "post"


SCALERS = tuple(s.value for s in Scaler)
LABELS = tuple(s.value for s in Labels)
SIDES = tuple(s.value for s in Side)


# What each output's targets are, decided from its loss and the training data (see `Preprocessor.kind`):
# ids: class labels, encoded for the loss (one-hot, ids, 0/1); soft: probabilities in [0, 1];
# multihot: several 0/1 labels a sample; values: numbers as they are (regression, or labels=none);
# input: a model input, preprocessed as that input is (an autoencoder's target).
KINDS = ("ids", "soft", "multihot", "values", "input")


class Preprocessor:
    def __init__(
        self,
        config: dict[str, Any],
        io: ModelIO,
        state: dict[str, Any] | None = None,
        echo: dict[str, str] | None = None,
    ):
        """`echo`: outputs whose target is a model input (output name -> input name); a fitted
        `state` remembers it, and each output's kind, so evaluate and predict read targets alike."""
        # Plain strings for the options, as a schema-typed config gives `Choice` members
        self.config = {k: v.value if isinstance(v, Choice) else v for k, v in config.items()}
        self.io = io
        self.state: dict[str, Any] = state if state is not None else {}
        self.echo: dict[str, str] = dict(echo if echo is not None else self.state.get("echo", {}))
        self._kinds: dict[str, str] = dict(self.state.get("kinds", {}))

    # -- fitting, on training data only ------------------------------------------------

    def fit(self, parts: Iterable[Part]) -> Preprocessor:
        """Learn scalers and class names from the training split (one Part, or a stream of them)."""
        from sklearn.preprocessing import MinMaxScaler, StandardScaler

        kinds = {"standard": StandardScaler, "minmax": MinMaxScaler}
        x_kind, y_kind = self.config.get("scaler", "none"), self.config.get("target_scaler", "none")
        scaled_inputs = [i.name for i in self.io.inputs if x_kind != "none" and "int" not in i.dtype]
        scaled_outputs = [
            o.name
            for o in self.io.outputs
            if y_kind != "none" and o.kind == "regression" and self.kind(o.name) == "values"
        ]
        x_scalers = {name: kinds[x_kind]() for name in scaled_inputs}
        y_scalers = {name: kinds[y_kind]() for name in scaled_outputs}
        raw: dict[str, set] = {o.name: set() for o in self.io.outputs if self.classifies(o.name)}
        # (labels as the data spells them)
        columns, rows = {}, set()  # rows: outputs with one-hot (or sequence) rows, whose values are no labels
        for part in parts:
            columns = columns or part.columns
            for name in raw:
                raw[name].update(np.unique(np.asarray(part.y[name])).tolist())
                if self.relabel(np.asarray(part.y[name][:1]), name).ndim > 1:
                    rows.add(name)
            x = self._shape(part.x)
            for name, scaler in x_scalers.items():
                scaler.partial_fit(_flat(x[name]))
            for name, scaler in y_scalers.items():
                scaler.partial_fit(_flat(_numbers(np.asarray(part.y[name]), self._output(name))))
        seen = {
            name: set(np.unique(self.relabel(np.asarray(sorted(values)), name)).tolist())
            for name, values in raw.items()
        }  # as the model sees them
        self.state = {
            "x": {name: _scaler_state(x_kind, s) for name, s in x_scalers.items()},
            "y": {name: _scaler_state(y_kind, s) for name, s in y_scalers.items()},
            "classes": {name: sorted(values) for name, values in seen.items() if values and not _numeric(values)},
            # class ids given as numbers: a file of new samples with another is refused, not scored
            "ids": {
                name: sorted(int(v) for v in values)
                for name, values in seen.items()
                if values and _numeric(values) and name not in rows
            },
            "columns": columns,
            "kinds": {o.name: self.kind(o.name) for o in self.io.outputs},
            "echo": self.echo,
        }
        positive = self.config.get("positive")
        if positive is not None:  # two labels: the other keeps its own name ('no', not 'not yes')
            self.state["negative"] = {
                name: (values - {positive}).pop()
                for name, values in raw.items()
                if len(values) == 2 and positive in values
            }
        self._check_positive(seen)
        return self

    def _check_positive(self, seen: dict[str, set]) -> None:
        """After relabelling, the labels equal to `positive` are 1: there must be some."""
        positive = self.config.get("positive")
        for name, values in seen.items():
            if positive is not None and 1 not in values:
                hint = (
                    'YAML reads yes, no, on and off as true and false: quote the label (positive: "no")'
                    if isinstance(positive, bool)
                    else "set it to one of the target column's values"
                )
                raise ConfigError(
                    Problem(
                        "data.preprocess.positive", f"no training label of output {name!r} equals {positive!r}", hint
                    )
                )

    # -- applying, to any split -------------------------------------------------------

    def features(self, x: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Shape, scale and type-check each input against the model's declared input."""
        return {spec.name: self._feature(x[spec.name], spec) for spec in self.io.inputs}

    def _feature(self, values: np.ndarray, spec) -> np.ndarray:
        values = self._shape_one(values, spec)
        _check_shape(values, spec)
        if spec.name in self.state.get("x", {}):
            values = _scale(values, self.state["x"][spec.name])
        return values.astype("float32" if "int" not in spec.dtype else spec.dtype, copy=False)

    def targets(self, y: dict[str, np.ndarray], split: str) -> dict[str, np.ndarray]:
        """Class ids (or scaled regression values) for each output; `encode` finishes the job."""
        return {spec.name: self.target(y[spec.name], spec.name, split) for spec in self.io.outputs}

    def target(self, values: np.ndarray, name: str, split: str) -> np.ndarray:
        spec, kind = self._output(name), self.kind(name)
        if kind == "input":  # the input's own preprocessing: the model reconstructs what it was given
            return self._feature(np.asarray(values), next(i for i in self.io.inputs if i.name == self.echo[name]))
        values = self.relabel(np.asarray(values), name)
        if kind == "values":
            values = _numbers(values, spec).astype("float32")
            return _scale(values, self.state["y"][name]) if name in self.state.get("y", {}) else values
        if kind == "multihot":
            self.check_multihot({name: values}, split)
        if kind in ("soft", "multihot"):
            return _probabilities(values, spec, kind, split)
        return self._class_ids(values, spec, split)

    def check_labels(
        self, y: dict[str, np.ndarray], columns: dict | None = None, first: int | None = None
    ) -> list[str]:
        """Before splitting: decide each output's kind from its loss and targets (unless a fitted
        state already did), and check that class labels are whole numbers or strings (a price is no class id),
        multi-labels 0 or 1 (`columns`, `first`: see check_multihot).
        Returns notes for the user: targets read as soft because a few of them are fractions."""
        notes = []
        for spec in self.io.outputs:
            if spec.name not in y or spec.name in self.echo:
                continue
            values = self.relabel(np.asarray(y[spec.name]), spec.name)
            if "kinds" not in self.state and self.config.get("labels", "auto") == "auto":
                self._kinds[spec.name] = _detect(values, spec)
                fractions = int(np.count_nonzero(np.mod(values, 1))) if self._kinds[spec.name] == "soft" else 0
                if 0 < fractions < values.size / 2:  # mostly 0/1: a typo, or soft labels on purpose?
                    notes.append(
                        f"output {spec.name!r}: {fractions} of {values.size} targets are fractions, so all are read as "
                        "probabilities (soft labels), not classes; set data.preprocess.labels to say which"
                    )
            if self.kind(spec.name) == "ids" and not (values.ndim == 2 and values.shape[1] > 1):
                _check_whole(values, spec, "the targets")  # (one-hot rows are checked as such)
            if self.kind(spec.name) == "values":
                _check_numbers(values, spec, first)
        self.check_multihot(y, "training", columns, first)
        return notes

    def check_multihot(
        self,
        y: dict[str, np.ndarray],
        split: str,
        columns: dict | None = None,
        first: int | None = None,
        csv: bool = True,
    ) -> None:
        """Multi-label targets are 0 or 1 each: 0.5 is no label (soft labels are data.preprocess.labels=soft).
        Names the first other value's column (by `columns`, a Part's, or the run's) and where it is: when `first`
        (the samples of the file before these) is given, a CSV's data row or an .npz's index, else the
        sample's position in the split."""
        for spec in self.io.outputs:
            values = np.asarray(y.get(spec.name, []))
            if self.kind(spec.name) != "multihot" or values.dtype.kind not in "biuf" or not values.size:
                continue
            flat = values.reshape(len(values), -1).astype("float64")
            bad = ~(np.isin(flat, (0, 1)) | np.isnan(flat))  # (an empty cell: a sample predict labels)
            if not bad.any():
                continue
            row, col = (int(i) for i in np.argwhere(bad)[0])
            names = ((columns or {}).get("y") or {}).get(spec.name) or self.target_columns(spec.name, flat.shape[1])
            column = f"column {names[col]!r}" if names and len(names) == flat.shape[1] else f"label {col}"
            where = (
                f"sample {row} of the {split} split"
                if first is None
                else f"data row {first + row + 1}"
                if csv
                else f"index {first + row}"
            )
            raise ConfigError(
                Problem(
                    "data.target",
                    f"output {spec.name!r} is multi-label (each target 0 or 1), but {column} has {flat[row, col]:g} in"
                    f" {where}" + (f" ({int(bad.sum())} such values)" if bad.sum() > 1 else ""),
                    "fix those targets to 0 or 1; for probabilities, train with data.preprocess.labels=soft",
                )
            )

    def kind(self, name: str) -> str:
        """One of KINDS: what the targets of output `name` are, so how they are read, encoded and decoded."""
        if name in self.echo:
            return "input"
        if name in self._kinds:
            return self._kinds[name]
        spec, labels = self._output(name), self.config.get("labels", "auto")
        if labels in ("soft", "multihot"):
            return labels
        if labels == "none" or labels == "auto" and spec.kind == "regression":
            return "values"
        return "ids"

    def classifies(self, name: str) -> bool:
        """Whether an output's targets become class ids (rather than numbers or probabilities taken as they are)."""
        return self.kind(name) == "ids"

    def encode(self, y: dict[str, np.ndarray], io: ModelIO) -> dict[str, np.ndarray]:
        """The label format each output's loss takes, checked against its number of units."""
        return {spec.name: self._encode(y[spec.name], spec) for spec in io.outputs}

    def inverse_targets(self, values: np.ndarray, name: str) -> np.ndarray:
        """Scaled regression values (targets or predictions) back in original units."""
        s = self.state.get("y", {}).get(name)
        if s is None:
            return np.asarray(values)
        flat = np.asarray(values, dtype="float64").reshape(len(values), -1)
        # float32, the precision the scaled values had: a target of 219 reads 219.0, not 219.00000116
        return (flat * np.asarray(s["scale"]) + np.asarray(s["offset"])).reshape(np.shape(values)).astype("float32")

    def decode(self, values: np.ndarray, name: str) -> np.ndarray:
        """Model outputs (or encoded targets) as the data gave them: original units, class labels,
        0/1 per label (multihot), or as they are (soft probabilities, an input reconstructed)."""
        spec, kind = self._output(name), self.kind(name)
        values = np.asarray(values)
        if kind == "values":
            return self.inverse_targets(values, name)
        if kind == "multihot":
            return (values > (0.0 if "hinge" in spec.loss_name.lower() else 0.5)).astype("int64")
        if kind in ("soft", "input"):
            return values
        if spec.kind == "binary":
            ids = (values > (0.0 if "hinge" in spec.loss_name.lower() else 0.5)).astype("int64")
            ids = ids.reshape(len(ids)) if ids.ndim == 2 and ids.shape[1] == 1 else ids
        else:
            ids = values.argmax(axis=-1) if values.ndim == 2 else values.astype("int64")
        classes = self._classes(name)
        if not classes:
            return ids
        # An output with more units than the data has labels: the extra units keep their ids.
        labels = list(classes) + list(range(len(classes), int(ids.max(initial=0)) + 1))
        return np.asarray(labels, dtype=object)[ids]

    def class_names(self, name: str, units: int) -> list[str]:
        """Names of an output's classes, for probability columns: the data's labels (then ids), else 0..units-1."""
        classes = [str(c) for c in self._classes(name) or []]
        return classes + [str(i) for i in range(len(classes), units)]

    def target_columns(self, name: str, count: int) -> list[str] | None:
        """The names of the `count` columns an output's targets were read from (None: not named so)."""
        names = (self.state.get("columns") or {}).get("y", {}).get(name)
        return [str(c) for c in names] if isinstance(names, list) and len(names) == count > 1 else None

    def _classes(self, name: str) -> list | None:
        """Class labels by id: the data's own, or with `positive`, ['not <positive>', <positive>];
        for one-hot rows read from named columns (low, mid, high), those names."""
        positive = self.config.get("positive")
        if positive is not None and self._output(name).kind != "regression":
            return [self.state.get("negative", {}).get(name, f"not {positive}"), positive]
        named = self.state.get("classes", {}).get(name)
        if named is None and self.kind(name) == "ids":
            return self.target_columns(name, self._output(name).units or 1)
        return named

    @property
    def scales_targets(self) -> bool:
        return bool(self.state.get("y"))

    # -- steps --------------------------------------------------------------------------

    def _shape(self, x: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {spec.name: self._shape_one(x[spec.name], spec) for spec in self.io.inputs}

    def _shape_one(self, values: np.ndarray, spec) -> np.ndarray:
        """Pad, reshape (as data.preprocess.reshape says, else to the input's declared shape when the
        samples hold as many values: the model's shape is the one it was written for) and divide."""
        c = self.config
        if values.dtype == object or c.get("maxlen") and ("int" in spec.dtype or len(self.io.inputs) == 1):
            values = _pad(values, spec.name, c.get("maxlen"), c.get("padding", "pre"), c.get("truncating", "pre"))
        if c.get("reshape"):
            target = tuple(c["reshape"])
            if int(np.prod(values.shape[1:])) != int(np.prod(target)):
                raise ConfigError(
                    Problem(
                        "data.preprocess.reshape",
                        f"cannot reshape samples of shape {list(values.shape[1:])} to {list(target)}",
                    )
                )
            values = values.reshape((len(values), *target))
        else:
            values = follow_shape(values, spec.shape)
        if c.get("divide_by") and "int" not in spec.dtype:
            values = values.astype("float32") / float(c["divide_by"])
        return values

    def relabel(self, values: np.ndarray, name: str) -> np.ndarray:
        """(n, 1) targets as (n,); with `positive`, that label as 1 and every other as 0."""
        if values.ndim == 2 and values.shape[1] == 1:
            values = values.reshape(len(values))
        positive = self.config.get("positive")
        if positive is None or self._output(name).kind == "regression":
            return values
        return (values == positive).astype("int64")

    def _format(self, spec: OutputSpec) -> str:
        """How class ids are encoded for the loss: one_hot, sparse (ids) or none (0/1 as they are)."""
        labels = self.config.get("labels", "auto")
        if labels in ("one_hot", "sparse", "none"):
            return labels
        return {"binary": "none", "one_hot": "one_hot", "sparse": "sparse", "regression": "none"}[spec.kind]

    def _class_ids(self, values: np.ndarray, spec: OutputSpec, split: str) -> np.ndarray:
        classes = self.state.get("classes", {}).get(spec.name)
        if classes is not None:
            lookup = {c: i for i, c in enumerate(classes)}
            unseen = sorted({str(v) for v in values.reshape(-1).tolist() if v not in lookup})
            if unseen and split == "input":
                hint = "drop those rows, or give the labels as the training data did"
                raise ConfigError(Problem("data.target", self._never_trained(unseen, classes, split), hint))
            if unseen:
                raise ConfigError(
                    Problem(
                        "data.target",
                        f"the {split} split has label(s) {', '.join(unseen[:5])} that the training split never has",
                        "drop those rows, or train on data that has them",
                    )
                )
            values = (
                np.vectorize(lookup.__getitem__, otypes=["int64"])(values) if values.size else values.astype("int64")
            )
        if values.ndim == 2 and values.shape[1] > 1:  # already one-hot (or multi-label)
            return values.astype("float32")
        if not np.issubdtype(values.dtype, np.number) and values.dtype != bool:
            words = sorted({str(v) for v in values.reshape(-1).tolist() if not is_number(str(v))})
            raise ConfigError(
                Problem(
                    "data.target",
                    f"output {spec.name!r} has labels {', '.join(words[:5])}{', ...' if len(words) > 5 else ''} in the"
                    f" {split} split, where the training split's are class numbers",
                    "give the labels as the training data did",
                )
            )
        _check_whole(values, spec, f"the {split} targets")
        values = values.astype("int64")
        units = spec.units or 1
        if split == "input" and values.ndim == 1 and self._format(spec) != "none" and values.size:
            outside = sorted({int(v) for v in values.tolist() if not 0 <= v < units})
            if outside:  # a trained model's classes are what they are: no label beyond them is scored
                raise ConfigError(
                    Problem(
                        "data.target",
                        f"the {split} split has label(s) {', '.join(map(str, outside[:5]))} that the model's classes,"
                        f" 0 to {units - 1}, do not include",
                        "drop those rows, or give the labels as the training data did",
                    )
                )
        trained = self.state.get("ids", {}).get(spec.name)  # (None: a run from before they were recorded)
        if split == "input" and values.ndim == 1 and trained is not None:
            unseen = sorted(set(values.tolist()) - set(trained))
            if unseen:
                hint = "drop those rows, or give the labels as the training data did"
                raise ConfigError(Problem("data.target", self._never_trained(unseen, trained, split), hint))
        if values.size and values.min() < 0:
            raise ConfigError(
                Problem(
                    f"model.outputs.{spec.name}",
                    f"class labels must be 0 or more; the {split} split has {values.min()}",
                )
            )
        if spec.kind == "binary" and self._format(spec) == "none" and values.size and values.max() > 1:
            found = ", ".join(str(v) for v in (classes or np.unique(values).tolist())[:10])
            raise ConfigError(
                Problem(
                    f"model.outputs.{spec.name}",
                    f"{spec.loss_name} takes labels 0 and 1; the {split} split has {found}",
                    "data.preprocess.positive=LABEL makes that label 1 and every other 0 (seed 001's seizure data: positive=1)",
                )
            )
        return values

    @staticmethod
    def _never_trained(unseen: list, trained: list, split: str) -> str:
        """The labels of new samples that the model never saw a sample of, and those it did."""
        shown = ", ".join(map(str, trained[:12])) + (f", ... ({len(trained)} in all)" if len(trained) > 12 else "")
        labels = ", ".join(map(str, unseen[:5])) + (f" (and {len(unseen) - 5} more)" if len(unseen) > 5 else "")
        return f"the {split} split has label(s) {labels} that the model never trained on (it trained on {shown})"

    def _encode(self, values: np.ndarray, spec: OutputSpec) -> np.ndarray:
        if self.kind(spec.name) != "ids":
            return _to_output(values, spec, self.echo.get(spec.name))
        fmt = self._format(spec)
        units = spec.units or 1
        named = self.state.get("classes", {}).get(spec.name)
        if (
            named and fmt in ("one_hot", "sparse") and units > len(named)
        ):  # a unit no label is: predict would name it by number
            raise ConfigError(
                Problem(
                    f"model.outputs.{spec.name}",
                    f"the data has {len(named)} labels ({', '.join(map(str, named[:12]))}{', ...' if len(named) > 12 else ''}), "
                    f"but the output has {units} units: the others would be classes with no label",
                    f"give the output layer {len(named)} units, or check data.target",
                )
            )
        if values.ndim == 1 and fmt in ("one_hot", "sparse") and values.size and values.max() >= units:
            classes = self.state.get("classes", {}).get(spec.name)
            if classes:  # the data's own labels: show them (a label spelt two ways is two classes)
                shown = ", ".join(map(str, classes[:12])) + (
                    f", ... ({len(classes)} in all)" if len(classes) > 12 else ""
                )
                raise ConfigError(
                    Problem(
                        f"model.outputs.{spec.name}",
                        f"the data has {len(classes)} labels ({shown}), but the output has {units} unit(s)",
                        f"give the output layer {len(classes)} units, or check data.target",
                    )
                )
            lo, hi, distinct = int(values.min()), int(values.max()), len(np.unique(values))
            fix = (
                f"number the classes from 0, or give the output layer {hi + 1} units"
                if lo > 0
                else f"give the output layer {hi + 1} units, or check data.target"
            )
            raise ConfigError(
                Problem(
                    f"model.outputs.{spec.name}",
                    f"labels run from {lo} to {hi} ({distinct} classes), but an output of {units} unit(s) takes labels 0 to {units - 1}",
                    fix,
                )
            )
        if values.ndim == 2 and values.shape[1] > 1:
            _check_one_hot(values, spec)
        if fmt == "one_hot":
            if values.ndim == 2:
                if values.shape[1] != units:
                    raise ConfigError(
                        Problem(
                            f"model.outputs.{spec.name}",
                            f"the targets are one-hot with {values.shape[1]} classes but the output has {units} units",
                        )
                    )
                return values
            return np.eye(units, dtype="float32")[values]
        if fmt == "sparse":
            return values.argmax(axis=1) if values.ndim == 2 else values
        return values.astype("float32")

    def _output(self, name: str) -> OutputSpec:
        return next(o for o in self.io.outputs if o.name == name)


CLASSIFICATION_LOSSES = (*BINARY_LOSSES, *ONE_HOT_LOSSES, *SPARSE_LOSSES)


def _detect(values: np.ndarray, spec: OutputSpec) -> str:
    """labels=auto: the loss says class ids, unless the data are probabilities (soft) or several
    0/1 labels a sample (multihot) that a binary or categorical cross-entropy takes as they are."""
    if spec.kind == "regression":
        return "values"
    if values.dtype.kind not in "biuf" or spec.kind == "sparse":
        return "ids"
    many = values.ndim > 1 and int(np.prod(values.shape[1:])) > 1
    whole = values.dtype.kind != "f" or not values.size or bool(np.all(np.mod(values, 1) == 0))
    unit = not values.size or 0 <= values.min() and values.max() <= 1
    if spec.kind == "binary" and many and unit:
        return "multihot" if whole else "soft"
    return "soft" if unit and not whole else "ids"  # (a price under a cross-entropy: the ids' check says why)


def _check_one_hot(values: np.ndarray, spec: OutputSpec) -> None:
    """Rows of class ids written one-hot hold a single 1: a row of two 1s (or none) names no class,
    and its argmax would train on the first of them."""
    rows = np.asarray(values, dtype="float64")
    bad = np.flatnonzero(~(np.isin(rows, (0, 1)).all(axis=1) & (rows.sum(axis=1) == 1)))
    if bad.size:
        example = [int(v) if float(v).is_integer() else v for v in rows[bad[0]].tolist()]
        raise ConfigError(
            Problem(
                f"model.outputs.{spec.name}",
                f"{bad.size} of {len(rows)} target rows are not one-hot (such as {example}), "
                f"so {spec.loss_name} cannot read a class from them",
                "one class a sample: exactly one 1 a row; several labels a sample: binary_crossentropy "
                "with a sigmoid unit a label; probabilities: data.preprocess.labels=soft",
            )
        )


def _probabilities(values: np.ndarray, spec: OutputSpec, kind: str, split: str) -> np.ndarray:
    """Soft or multi-hot targets: numbers in [0, 1], passed to the loss as they are."""
    if values.dtype.kind not in "biuf":
        raise ConfigError(
            Problem(
                "data.preprocess.labels",
                f"{kind} targets are numbers in [0, 1]; output {spec.name!r} has labels such as {values.flat[0]!r}",
                "set data.preprocess.labels=auto to read them as class labels",
            )
        )
    values = values.astype("float32")
    if values.size and (values.min() < 0 or values.max() > 1):
        raise ConfigError(
            Problem(
                f"model.outputs.{spec.name}.loss",
                f"{spec.loss_name} takes {kind} targets as probabilities in [0, 1]; "
                f"the {split} targets run from {values.min():g} to {values.max():g}",
                "use a regression loss such as mean_squared_error, or scale the targets to [0, 1]",
            )
        )
    return values


def follow_shape(values: np.ndarray, shape: tuple) -> np.ndarray:
    """Samples in the model's declared shape when they hold as many values (28x28 images for a
    [784] or a [28, 28, 1] input): the model's shape is the one its author wrote for them."""
    shape = tuple(shape)
    if not shape or None in shape or values.dtype == object or values.ndim < 1:
        return values
    got = values.shape[1:]
    if got != shape and int(np.prod(got)) == int(np.prod(shape)) > 1:  # (n,) for one unit stays as Keras takes it
        return values.reshape((len(values), *shape))
    return values


def _to_output(values: np.ndarray, spec: OutputSpec, source: str | None) -> np.ndarray:
    """Targets taken as they are, in the output's shape (reshaped when they hold as many values a sample)."""
    values = np.asarray(values)
    if spec.shape is None or None in spec.shape:
        return values
    reshaped = follow_shape(values, spec.shape)
    if int(np.prod(reshaped.shape[1:])) == int(np.prod(spec.shape)):
        return reshaped
    what = f"input {source!r}" if source else "targets"
    raise ConfigError(
        Problem(
            f"model.outputs.{spec.name}",
            f"the {what} hold {int(np.prod(values.shape[1:]))} value(s) a sample, shaped {list(values.shape[1:])}, "
            f"but output {spec.name!r} gives {int(np.prod(spec.shape))}, shaped {list(spec.shape)}",
            "give the output the targets' shape, or pick other targets with data.target",
        )
    )


def _check_numbers(values: np.ndarray, spec: OutputSpec, first: int | None) -> None:
    """Regression targets that are numbers but for a few cells ('n/a?'): a typo in the data, said where it is
    (with `first`, the CSV data rows before these, by data row). Targets that are all words are labels: the
    loss was meant to classify, which `_numbers` says."""
    if values.dtype.kind in "biuf" or not values.size:
        return
    flat = values.reshape(len(values), -1)
    bad = np.array([[not is_number(v) for v in row] for row in flat])
    if bad.all():
        return
    row = int(np.argwhere(bad)[0][0])
    where = f"data row {first + row + 1}" if first is not None else f"sample {row}"
    raise ConfigError(
        Problem(
            "data.target",
            f"output {spec.name!r} regresses numbers, but its target in {where} is {flat[bad][0]!r}"
            + (f" ({int(bad.sum())} such values)" if bad.sum() > 1 else ""),
            "fix those targets to numbers, or drop their rows",
        )
    )


def _numbers(values: np.ndarray, spec: OutputSpec) -> np.ndarray:
    """Regression targets as float64; labels such as 'no' mean the loss was meant to classify."""
    if values.dtype.kind in "biuf":
        return values.astype("float64")
    labels = sorted({str(v) for v in values.reshape(-1).tolist() if not is_number(v)})
    if labels:
        meant = did_you_mean(spec.loss_name, CLASSIFICATION_LOSSES)  # a misspelt one is no classification loss either
        raise ConfigError(
            Problem(
                f"model.outputs.{spec.name}.loss",
                f"the targets are labels like {labels[0]!r}, but {spec.loss_name!r} is no classification loss"
                + ("" if meant else ": it treats them as numbers"),
                meant or "labels take a classification loss: " + ", ".join(CLASSIFICATION_LOSSES),
            )
        )
    return values.astype("float64")


def _check_whole(values: np.ndarray, spec: OutputSpec, which: str) -> None:
    """Class labels must be whole numbers or strings: 94.475 means the loss was meant to regress."""
    if values.dtype.kind != "f" or not values.size:
        return
    fractional = np.mod(values, 1) != 0
    if fractional.any():
        example = values.flat[int(np.argmax(fractional))].item()  # 94.475, not np.float64(94.475)
        distinct = len(np.unique(values))
        raise ConfigError(
            Problem(
                f"model.outputs.{spec.name}.loss",
                f"{spec.loss_name} takes class labels, which must be whole numbers or strings; {which} are not ({distinct} distinct values, e.g. {example!r})",
                "use a regression loss such as mean_squared_error",
            )
        )


def is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _numeric(values: set) -> bool:
    return all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in values)


def _flat(values: np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype="float64").reshape(len(values), -1)


def _scaler_state(kind: str, scaler) -> dict[str, Any]:
    # Stored as x' = (x - offset) / scale, the form both scikit-learn scalers reduce to.
    if kind == "standard":
        offset, scale = scaler.mean_, scaler.scale_
    else:
        offset, scale = scaler.data_min_, 1.0 / scaler.scale_
    return {"kind": kind, "offset": offset.tolist(), "scale": scale.tolist()}


def _scale(values: np.ndarray, state: dict) -> np.ndarray:
    out = (_flat(values) - np.asarray(state["offset"])) / np.asarray(state["scale"])
    return out.reshape(np.shape(values)).astype("float32")


def _pad(values: np.ndarray, name: str, maxlen: int | None, padding: str, truncating: str) -> np.ndarray:
    """Sequences to one length, as keras.utils.pad_sequences does (zeros; 'pre' by default)."""
    if not maxlen:
        lengths = sorted({len(s) for s in values[:1000]})
        raise ConfigError(
            Problem(
                "data.preprocess.maxlen",
                f"input {name!r} holds sequences of different lengths ({lengths[0]} to {lengths[-1]}, and more)",
                "set data.preprocess.maxlen=N to pad or truncate them to N",
            )
        )
    rows = [np.asarray(s) for s in values]
    dtype = np.result_type(*[r.dtype for r in rows[:100]]) if rows else np.int32
    out = np.zeros((len(rows), maxlen), dtype=dtype if np.issubdtype(dtype, np.number) else np.int32)
    for i, row in enumerate(rows):
        row = row[-maxlen:] if truncating == "pre" else row[:maxlen]
        if padding == "pre":
            out[i, maxlen - len(row) :] = row
        else:
            out[i, : len(row)] = row
    return out


def _check_shape(values: np.ndarray, spec) -> None:
    expected, got = tuple(spec.shape), tuple(values.shape[1:])
    if len(got) == len(expected) and all(e is None or e == g for e, g in zip(expected, got)):
        return
    key = f"model.inputs.{spec.name}.shape"
    if len(expected) == len(got) == 1:
        raise ConfigError(
            Problem(
                key,
                f"the model takes {expected[0]} features per sample; the data has {got[0]}",
                f"select {expected[0]} columns with data.features, or set {key}=[{got[0]}]",
            )
        )
    if None not in expected and np.prod(got) == np.prod(expected):
        hint = f"add data.preprocess.reshape=[{','.join(str(d) for d in expected)}]"
    else:
        hint = "match model.inputs to the data, or reshape it with data.preprocess.reshape"
    raise ConfigError(
        Problem(key, f"the model expects samples of shape {list(expected)}; the data has {list(got)}", hint)
    )
