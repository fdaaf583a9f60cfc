"""Data sources by name: `get(name)` returns a loader, as Keras' own `get`s do.

A loader returns `Raw`: arrays as the source has them (before splitting and
preprocessing), with the source's own test split when it has one.
"""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from dlcli.errors import ConfigError, Problem, did_you_mean

_ASSETS = Path(__file__).resolve().parent / "assets"


@dataclass
class Raw:
    x: Any  # an array, or a dict by model input name
    y: Any  # an array, or a dict by model output name
    x_test: Any = None
    y_test: Any = None
    x_val: Any = None
    y_val: Any = None
    note: str | None = None  # said to the user once (a fallback, say)


_SOURCES: dict[str, Callable[..., Raw]] = {}


def register(*names: str):
    def wrap(fn):
        for name in names:
            _SOURCES[name] = fn
        return fn

    return wrap


def names() -> list[str]:
    return sorted(_SOURCES)


def get(name: str) -> Callable[..., Raw]:
    if name not in _SOURCES:
        raise ConfigError(Problem("data.source", f"unknown data source {name!r}", did_you_mean(name, _SOURCES) or "valid: " + ", ".join(names())))
    return _SOURCES[name]


def resolve_path(value: str, key: str) -> Path:
    path = Path(value).expanduser()
    if not path.exists():
        raise ConfigError(Problem(key, f"no such file {value!r} (resolved to {path.resolve()})"))
    return path


# --- Keras' downloadable sets ---------------------------------------------------------

_KERAS_FILES = {
    "mnist": "mnist.npz",
    "fashion_mnist": "fashion-mnist (four .gz files)",
    "cifar10": "cifar-10-batches-py",
    "cifar100": "cifar-100-python",
    "imdb": "imdb.npz",
    "reuters": "reuters.npz",
    "boston_housing": "boston_housing.npz",
}


@register(*_KERAS_FILES)
def keras_dataset(cfg, model_io, seed) -> Raw:
    name = cfg.source
    if cfg.path:
        return _keras_npz(resolve_path(cfg.path, "data.path"))
    import keras

    loader = getattr(keras.datasets, name).load_data
    kwargs = dict(cfg.options or {})
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # Keras prints "Downloading data from ..."
            (x, y), (x_test, y_test) = loader(**kwargs)
    except TypeError as exc:
        raise ConfigError(Problem("data.options", f"keras.datasets.{name}.load_data: {exc}")) from exc
    except Exception as exc:
        if name == "mnist":
            return _shipped_mnist(_reason(exc))
        where = Path(os.environ.get("KERAS_HOME", "~/.keras"), "datasets", _KERAS_FILES[name])
        raise ConfigError(
            Problem(
                "data.source",
                f"cannot download {name} ({_reason(exc)})",
                f"put the file at {where} or pass data.path=/path/to/{_KERAS_FILES[name]}",
            )
        ) from exc
    return Raw(x, y, x_test, y_test)


def _reason(exc: Exception) -> str:
    text = str(exc)
    return "no network" if "fetch failure" in text or "Name or service" in text else text.splitlines()[0][:120]


def _keras_npz(path: Path) -> Raw:
    with np.load(path, allow_pickle=False) as f:
        keys = set(f.files)
        if {"x_train", "y_train"} <= keys:
            return Raw(f["x_train"], f["y_train"], f.get("x_test"), f.get("y_test"))
        if {"x", "y"} <= keys:
            return Raw(f["x"], f["y"])
    raise ConfigError(Problem("data.path", f"{path} holds {sorted(keys)}; expected x_train, y_train (and x_test, y_test) as Keras saves them"))


def _shipped_mnist(reason: str) -> Raw:
    with np.load(_ASSETS / "mnist_5k.npz") as f:
        x, y = f["x"], f["y"]
    # The extract is ordered by class: it has no test set of its own, so the
    # usual stratified data.test_split holds one out.
    return Raw(
        x,
        y,
        note=f"MNIST could not be downloaded ({reason}): training on the 5,000-sample MNIST subset dlcli ships; data.path=/x/mnist.npz uses the full set",
    )


# --- scikit-learn's bundled sets -------------------------------------------------------

_SKLEARN = ("digits", "breast_cancer", "iris", "wine", "diabetes")


@register(*_SKLEARN)
def sklearn_dataset(cfg, model_io, seed) -> Raw:
    from sklearn import datasets

    x, y = getattr(datasets, f"load_{cfg.source}")(return_X_y=True)
    return Raw(x.astype("float32"), y)


# --- local files -----------------------------------------------------------------------


@register("npz")
def npz_file(cfg, model_io, seed) -> Raw:
    if not cfg.path:
        raise ConfigError(Problem("data.path", "the npz source needs data.path=/path/to/file.npz"))
    path = resolve_path(cfg.path, "data.path")
    x_key, y_key = cfg.options.get("x", "x"), cfg.options.get("y", "y")
    with np.load(path, allow_pickle=False) as f:
        if x_key not in f.files and "x_train" in f.files:
            return _keras_npz(path)
        for key, value in (("data.options.x", x_key), ("data.options.y", y_key)):
            if value not in f.files:
                raise ConfigError(Problem(key, f"{path} has no array {value!r}", did_you_mean(value, f.files) or f"arrays: {', '.join(f.files)}"))
        return Raw(f[x_key], f[y_key])


@register("csv")
def csv_files(cfg, model_io, seed) -> Raw:
    files = {"train": cfg.train_path or cfg.path, "val": cfg.val_path, "test": cfg.test_path}
    if not files["train"]:
        raise ConfigError(Problem("data.path", "the csv source needs data.path (or data.train_path)"))
    parts = {}
    for split, value in files.items():
        if value:
            key = "data.path" if split == "train" and not cfg.train_path else f"data.{split}_path"
            parts[split] = _read_csv(resolve_path(value, key), cfg.options)
    raw = Raw(*parts["train"])
    if "val" in parts:
        raw.x_val, raw.y_val = parts["val"]
    if "test" in parts:
        raw.x_test, raw.y_test = parts["test"]
    return raw


def _read_csv(path: Path, options: dict) -> tuple[np.ndarray, np.ndarray]:
    import pandas as pd

    header = options.get("header", "infer")
    frame = pd.read_csv(path, header=0 if header is True else None if header is False else "infer")
    columns = [str(c) for c in frame.columns]
    features = _columns(options.get("features", f":{len(columns) - 1}"), columns, "data.options.features")
    target = _columns(options.get("target", -1), columns, "data.options.target")
    x = frame.iloc[:, features].to_numpy(dtype="float32")
    bad = np.isnan(x).sum(axis=0)
    if bad.any():
        which = ", ".join(f"{columns[features[i]]} ({n})" for i, n in enumerate(bad) if n)
        raise ConfigError(Problem("data.options.features", f"{path.name} has NaN in column(s) {which}", "fill or drop them before training"))
    y = frame.iloc[:, target].to_numpy()
    return x, y[:, 0] if y.shape[1] == 1 else y


def _columns(spec: Any, columns: list[str], key: str) -> list[int]:
    """Column indices from a name, an index, a list of either, or a slice string like '0:9'."""
    if isinstance(spec, str) and ":" in spec:
        start, _, stop = spec.partition(":")
        return list(range(len(columns)))[slice(int(start) if start else None, int(stop) if stop else None)]
    picked = []
    for item in spec if isinstance(spec, list) else [spec]:
        if isinstance(item, int) and -len(columns) <= item < len(columns):
            picked.append(item % len(columns))
        elif str(item) in columns:
            picked.append(columns.index(str(item)))
        else:
            raise ConfigError(Problem(key, f"no column {item!r}", did_you_mean(str(item), columns) or f"columns: {', '.join(columns)}"))
    return picked


# --- synthetic -------------------------------------------------------------------------


@register("synthetic")
def synthetic(cfg, model_io, seed) -> Raw:
    """Random data shaped by the model's inputs and targets matched to each output's loss."""
    rng = np.random.default_rng(seed)
    n = int(cfg.samples)
    x = {}
    for spec in model_io.inputs:
        shape = (n, *(cfg.sequence_length if d is None else d for d in spec.shape))
        if "int" in spec.dtype:
            x[spec.name] = rng.integers(1, max(spec.vocab or 2, 2), size=shape).astype(spec.dtype)
        else:
            x[spec.name] = rng.standard_normal(shape).astype(spec.dtype)
    y = {}
    for spec in model_io.outputs:
        shape = (n, *(cfg.sequence_length if d is None else d for d in spec.shape))
        loss = spec.loss_name
        if "sparse_categorical" in loss:
            y[spec.name] = rng.integers(0, spec.units, size=shape[:-1])
        elif "categorical" in loss:
            y[spec.name] = np.eye(spec.units, dtype="float32")[rng.integers(0, spec.units, size=shape[:-1])]
        elif "binary" in loss or "hinge" in loss:
            y[spec.name] = rng.integers(0, 2, size=shape).astype("float32")
        else:
            y[spec.name] = rng.standard_normal(shape).astype("float32")
    return Raw(x, y)
