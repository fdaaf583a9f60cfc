"""Declared preprocessing, fit on the training split only and saved with the run.

`fit` learns from training data (scaler statistics); `transform` applies the
same steps to any split, so `evaluate` reuses exactly what training used.
The fitted state is plain JSON: nothing is pickled.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dlcli.data.io import ModelIO, OutputSpec
from dlcli.errors import ConfigError, Problem

SCALERS = ("none", "standard", "minmax")
LABELS = ("auto", "one_hot", "sparse", "none")


class Preprocessor:
    def __init__(self, config: dict[str, Any], io: ModelIO, state: dict[str, Any] | None = None):
        self.config, self.io = config, io
        self.state: dict[str, Any] = state or {}

    # -- fitting -----------------------------------------------------------------------

    def fit(self, x, y) -> "Preprocessor":
        x = self._shape_features(x)
        if self.config.get("scaler", "none") != "none":
            self.state["x"] = _fit_scaler(self.config["scaler"], _single(x, "data.preprocess.scaler"))
        if self.config.get("target_scaler", "none") != "none":
            self.state["y"] = _fit_scaler(self.config["target_scaler"], _single(y, "data.preprocess.target_scaler"))
        return self

    # -- applying ----------------------------------------------------------------------

    def transform(self, x, y):
        x = self._shape_features(x)
        if "x" in self.state:
            x = _scale(x, self.state["x"])
        return self._as_inputs(x), self._targets(y)

    def inverse_targets(self, y):
        """Predictions or targets back in original units (regression with a target scaler)."""
        if "y" not in self.state:
            return y
        s = self.state["y"]
        return np.asarray(y) * np.asarray(s["scale"]) + np.asarray(s["offset"])

    def _shape_features(self, x):
        if isinstance(x, dict):
            return x
        x = np.asarray(x)
        if self.config.get("maxlen"):
            x = _pad(x, int(self.config["maxlen"]))
        if self.config.get("reshape"):
            target = tuple(self.config["reshape"])
            if int(np.prod(x.shape[1:])) != int(np.prod(target)):
                raise ConfigError(Problem("data.preprocess.reshape", f"cannot reshape samples of shape {x.shape[1:]} to {target}"))
            x = x.reshape((len(x), *target))
        if self.config.get("divide_by"):
            x = x.astype("float32") / float(self.config["divide_by"])
        return x

    def _as_inputs(self, x):
        if isinstance(x, dict):  # a single-input model takes a plain array
            return next(iter(x.values())) if len(self.io.inputs) == 1 else x
        if len(self.io.inputs) != 1:
            names = ", ".join(i.name for i in self.io.inputs)
            raise ConfigError(Problem("data.source", f"the model has {len(self.io.inputs)} inputs ({names}) but the source gives one array", "use an npz source with one array per input, or synthetic"))
        spec = self.io.inputs[0]
        expected = tuple(d for d in spec.shape)
        got = tuple(x.shape[1:])
        if len(got) != len(expected) or any(e is not None and e != g for e, g in zip(expected, got)):
            hint = f"add data.preprocess.reshape=[{','.join(str(d) for d in expected)}]" if None not in expected and np.prod(got) == np.prod(expected) else "match model.inputs to the data"
            raise ConfigError(Problem(f"model.inputs.{spec.name}.shape", f"the model expects samples of shape {list(expected)}, the data has {list(got)}", hint))
        return x.astype(spec.dtype) if "int" in spec.dtype or x.dtype != np.float32 else x

    def _targets(self, y):
        if isinstance(y, dict):
            encoded = {name: self._encode(value, self._output(name)) for name, value in y.items()}
            return next(iter(encoded.values())) if len(self.io.outputs) == 1 else encoded
        if len(self.io.outputs) != 1:
            raise ConfigError(Problem("data.source", f"the model has {len(self.io.outputs)} outputs but the source gives one target array"))
        return self._encode(y, self.io.outputs[0])

    def _output(self, name: str) -> OutputSpec:
        return next(o for o in self.io.outputs if o.name == name)

    def _encode(self, y, out: OutputSpec):
        y = np.asarray(y)
        labels = self.config.get("labels", "auto")
        loss = out.loss_name
        if labels == "auto":
            labels = "one_hot" if loss == "categorical_crossentropy" else "sparse" if "sparse_categorical" in loss else "none"
        if labels in ("one_hot", "sparse") and y.ndim == 1:
            _check_range(y, out)
        if labels == "one_hot" and y.ndim == 1:
            if "sparse_categorical" in loss:
                raise ConfigError(Problem("data.preprocess.labels", f"one_hot labels do not fit output {out.name!r}'s loss {loss}", "use labels: sparse, or loss: categorical_crossentropy"))
            return np.eye(out.units, dtype="float32")[y.astype(int)]
        if labels == "sparse" and y.ndim == 2 and loss == "categorical_crossentropy":
            raise ConfigError(Problem("data.preprocess.labels", f"sparse labels do not fit output {out.name!r}'s loss categorical_crossentropy", "use labels: one_hot, or loss: sparse_categorical_crossentropy"))
        if "y" in self.state:
            y = _scale(y, self.state["y"])
        return y.astype("float32") if labels in ("none", "one_hot") and y.dtype != np.float32 else y


def _single(arrays, key: str):
    if isinstance(arrays, dict):
        if len(arrays) != 1:
            raise ConfigError(Problem(key, "scalers apply to single-input/single-output data"))
        (arrays,) = arrays.values()
    return np.asarray(arrays, dtype="float64")


def _fit_scaler(kind: str, values: np.ndarray) -> dict[str, Any]:
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    flat = values.reshape(len(values), -1)
    scaler = StandardScaler().fit(flat) if kind == "standard" else MinMaxScaler().fit(flat)
    # Stored as x' = (x - offset) / scale, the form both scikit-learn scalers reduce to.
    if kind == "standard":
        offset, scale = scaler.mean_, scaler.scale_
    else:
        offset, scale = scaler.data_min_, 1.0 / scaler.scale_
    return {"kind": kind, "offset": offset.tolist(), "scale": scale.tolist()}


def _scale(x, state):
    flat = np.asarray(x, dtype="float64").reshape(len(x), -1)
    out = (flat - np.asarray(state["offset"])) / np.asarray(state["scale"])
    return out.reshape(np.shape(x)).astype("float32")


def _pad(x: np.ndarray, maxlen: int) -> np.ndarray:
    import keras

    return keras.utils.pad_sequences(list(x), maxlen=maxlen)


def _check_range(y: np.ndarray, out: OutputSpec) -> None:
    if y.size and (y.min() < 0 or y.max() >= out.units) and out.units > 1:
        raise ConfigError(Problem(f"model.outputs.{out.name}", f"labels run from {y.min()} to {y.max()} but the output has {out.units} units", f"give the output layer {int(y.max()) + 1} units"))
