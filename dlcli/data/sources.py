"""Data sources by name: `get(name)` returns a loader, as Keras' own `get`s do.

A loader returns `Raw`: samples as the source has them (before splitting and
preprocessing), keyed by model input and output names, with the validation or
test split the source brings itself (given files, Keras' own test set).
Sources registered with `needs_model` (Keras' sets, synthetic) run after the
model is built; the others run before Keras is imported, so their errors
(missing files, unknown columns, NaN) come at once.
"""

from __future__ import annotations

import contextlib
import inspect
import io as _io
import os
import re
import shutil
import tarfile
import tempfile
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator
from unittest import mock

import numpy as np

from dlcli.data.io import ModelIO
from dlcli.data.preprocess import is_number
from dlcli.data.splits import Part
from dlcli.errors import ConfigError, Problem, did_you_mean
from dlcli.foreign import first_line, no_network, plain

_ASSETS = Path(__file__).resolve().parent / "assets"


@dataclass
class Raw:
    x: dict[str, Any]  # the pool to split, by model input name
    y: dict[str, Any]  # by model output name
    val: Part | None = None  # splits the source brings itself
    test: Part | None = None
    note: str | None = None  # said to the user once (a fallback, say)
    columns: dict = field(default_factory=dict)  # see Part.columns

    @property
    def pool(self) -> Part:
        return Part(self.x, self.y, self.columns)


_SOURCES: dict[str, Callable[..., Raw]] = {}
_NEEDS_MODEL: set[str] = set()


def register(*names: str, needs_model: bool = False):
    def wrap(fn):
        for name in names:
            _SOURCES[name] = fn
            if needs_model:
                _NEEDS_MODEL.add(name)
        return fn

    return wrap


def names() -> list[str]:
    return sorted(_SOURCES)


def needs_model(name: str) -> bool:
    """Whether the source needs the built model (output shapes, Keras itself)."""
    return name in _NEEDS_MODEL


def get(name: str) -> Callable[..., Raw]:
    if name not in _SOURCES:
        raise ConfigError(
            Problem(
                "data.source",
                f"unknown data source {name!r}",
                did_you_mean(name, _SOURCES) or "valid: " + ", ".join(names()),
            )
        )
    return _SOURCES[name]


def resolve_path(value: str, key: str, origin: str | None = None) -> Path:
    path = Path(value).expanduser()
    if not path.exists():
        raise ConfigError(missing_file(value, key, origin))
    return path


def missing_file(value: str, key: str, origin: str | None) -> Problem:
    hint = f"{origin.rstrip('.')}; put it there, or pass {key}=..." if origin else None
    path = Path(value).expanduser()
    if path.is_symlink():  # a link to nothing, or a loop of links: there is no file behind it
        return Problem(key, f"{value!r} is a symbolic link to no file (it points to {os.readlink(path)!r})", hint)
    return Problem(key, f"no such file {value!r} (resolved to {resolved(path)})", hint)


def resolved(path: Path) -> Path:
    """`path` made absolute with links followed where they lead somewhere (a loop of links does not)."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop, before Python 3.13
        return Path(os.path.abspath(path))


def single(x, y, model_io: ModelIO, what: str) -> tuple[dict, dict]:
    """Name one feature array and one target array after the model's single input and output
    (no output at all: every target is an input, as an autoencoder's is; see `echoes`)."""
    if len(model_io.inputs) != 1:
        raise ConfigError(
            Problem(
                "data.source",
                f"{what} gives one feature array but the model has {len(model_io.inputs)} inputs ({model_io.input_names()})",
                "use an npz or csv source with data.features mapping each input to its arrays or columns, or source=synthetic",
            )
        )
    if len(model_io.outputs) > 1:
        raise ConfigError(
            Problem(
                "data.source",
                f"{what} gives one target array but the model has {len(model_io.outputs)} outputs ({model_io.output_names()})",
                "use an npz or csv source with data.target mapping each output to its arrays or columns"
                " (or, for an output that reconstructs the input, data.target.NAME=input)",
            )
        )
    return {model_io.inputs[0].name: x}, {o.name: y for o in model_io.outputs}


# --- targets that are inputs -------------------------------------------------------------

INPUT = "input"  # data.target's word for "the model's (single) input"


def echoes(cfg, model_io: ModelIO) -> dict[str, str]:
    """Outputs whose target is a model input (output name -> input name): data.target is `input`,
    the name of a model input, or the very array or columns an input reads (Keras' and scikit-learn's
    `x`). The source then reads no target for them: the input's samples are the targets."""
    if cfg.source == "synthetic":
        return {}
    value = plain(cfg.target)
    if isinstance(value, dict):
        specs = value
    elif value is not None and len(model_io.outputs) == 1:
        specs = {model_io.outputs[0].name: value}
    else:
        return {}
    inputs = [i.name for i in model_io.inputs]
    out = {}
    for name, spec in specs.items():
        if spec == INPUT and len(inputs) == 1:
            out[name] = inputs[0]
        elif isinstance(spec, str) and spec in inputs:
            out[name] = spec
        else:
            found = next((i for i in inputs if spec == _feature_spec(cfg, model_io, i)), None)
            if found is not None:
                out[name] = found
    return out


def _feature_spec(cfg, model_io: ModelIO, name: str) -> Any:
    """The array or columns input `name` reads, as the config spells them (None: not known before reading)."""
    if cfg.source in KERAS_SETS or cfg.source in _SKLEARN:
        return "x" if len(model_io.inputs) == 1 else None
    value = plain(cfg.features)
    if isinstance(value, dict):
        return value.get(name)
    if value is not None:
        return value
    return ("x" if len(model_io.inputs) == 1 else name) if cfg.source == "npz" else None


def without_echoes(cfg, model_io: ModelIO) -> tuple[Any, ModelIO, dict[str, str]]:
    """(data config, model io) for the source to read, the targets that are inputs left out, and those targets."""
    import copy

    echo = echoes(cfg, model_io)
    if not echo:
        return cfg, model_io, echo
    rest = [o for o in model_io.outputs if o.name not in echo]
    cfg = copy.deepcopy(cfg)
    value = plain(cfg.target)
    if isinstance(value, dict) and len(rest) == 1 and cfg.source in (*KERAS_SETS, *_SKLEARN):
        cfg.target = None
    elif isinstance(value, dict):
        cfg.target = {k: v for k, v in value.items() if k not in echo}
    else:
        cfg.target = None
    return cfg, ModelIO(model_io.inputs, rest), echo


def with_echoes(part: Part | None, echo: dict[str, str]) -> Part | None:
    """The targets that are inputs put back: the input's own samples (preprocessed as the input is)."""
    if part is None:
        return None
    return Part(part.x, {**part.y, **{out: part.x[inp] for out, inp in echo.items()}}, part.columns)


def target_problems(cfg, model_io: ModelIO) -> list[Problem]:
    """data.target and data.features of Keras' and scikit-learn's sets name their arrays (x, y) or
    inputs; `input` needs one input. Anything else would be ignored, so it is refused."""
    problems = []
    inputs = [i.name for i in model_io.inputs]
    target = plain(cfg.target)
    specs = target if isinstance(target, dict) else {"": target}
    for name, spec in specs.items():
        key = f"data.target.{name}" if name else "data.target"
        if spec == INPUT and len(inputs) > 1:
            problems.append(
                Problem(
                    key, f"the model has {len(inputs)} inputs ({', '.join(inputs)})", f"name one: {key}={inputs[0]}"
                )
            )
    if cfg.source not in (*KERAS_SETS, *_SKLEARN):
        return problems
    arrays = ("x", "y", "x_train", "y_train") if cfg.source in KERAS_SETS else ("x", "y")
    what = f"keras.datasets.{cfg.source}" if cfg.source in KERAS_SETS else f"scikit-learn's {cfg.source}"
    for name, spec in specs.items():
        key = f"data.target.{name}" if name else "data.target"
        if spec is not None and spec not in (*arrays, INPUT, *inputs):
            problems.append(
                Problem(
                    key,
                    f"{what} has arrays x (the samples) and y (the labels), not {spec!r}",
                    "y (the default) for the labels; input, x or a model input's name for the samples themselves",
                )
            )
    features = plain(cfg.features)
    if features is not None and features not in arrays[::2]:
        problems.append(
            Problem(
                "data.features", f"{what} has one array of samples, x, not {features!r}", "leave data.features unset"
            )
        )
    return problems


# --- Keras' downloadable sets ---------------------------------------------------------

# What to download for each set, and what data.path may point at instead.
_KERAS_FILES = {
    "mnist": "mnist.npz",
    "fashion_mnist": "train-labels-idx1-ubyte.gz, train-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz",
    "cifar10": "cifar-10-python.tar.gz",
    "cifar100": "cifar-100-python.tar.gz",
    "imdb": "imdb.npz",
    "reuters": "reuters.npz",
    "boston_housing": "boston_housing.npz",
}
KERAS_SETS = tuple(_KERAS_FILES)


@register(*KERAS_SETS, needs_model=True)
def keras_dataset(cfg, model_io, seed) -> Raw:
    """Keras' own loader; with data.path, the loader reads the local copy instead of downloading."""
    from dlcli import backend

    keras = backend.setup()
    name = cfg.source
    load_data = getattr(keras.datasets, name).load_data
    kwargs = _loader_options(load_data, dict(cfg.options or {}), name)
    calls: list[dict] = []
    with contextlib.ExitStack() as stack:
        if cfg.path:
            local = resolve_path(cfg.path, "data.path", cfg.origin)
            if local.suffix == ".npz" and name in ("fashion_mnist", "cifar10", "cifar100"):
                return _saved_npz(local, model_io)
            stack.enter_context(mock.patch.dict(load_data.__globals__, {"get_file": _local_copy(local, name, stack)}))
        else:
            stack.enter_context(
                mock.patch.dict(
                    load_data.__globals__, {"get_file": _recording(load_data.__globals__["get_file"], calls)}
                )
            )
        try:
            with contextlib.redirect_stdout(_io.StringIO()):  # Keras prints "Downloading data from ..."
                (x, y), (x_test, y_test) = load_data(**kwargs)
        except ConfigError:
            raise
        except Exception as exc:
            if cfg.path:
                raise ConfigError(
                    Problem(
                        "data.path",
                        f"keras.datasets.{name} cannot read {cfg.path}: {_reason(exc)}",
                        f"data.path takes Keras' own file(s): {_KERAS_FILES[name]}",
                    )
                ) from exc
            if name == "mnist":
                return _shipped_mnist(_reason(exc), model_io)
            raise ConfigError(_cannot_download(name, calls, exc)) from exc
    x, y = single(_channels(x), y, model_io, f"keras.datasets.{name}")
    x_test, y_test = single(_channels(x_test), y_test, model_io, f"keras.datasets.{name}")
    return Raw(x, y, test=Part(x_test, y_test))


def _channels(x: np.ndarray) -> np.ndarray:
    """Grayscale images (MNIST's n x 28 x 28) with the channel axis convolutions take, as cifar's have."""
    return x[..., None] if x.ndim == 3 and x.dtype != object else x


def _loader_options(load_data, options: dict, name: str) -> dict:
    """data.options checked against the loader's own parameters (imdb: num_words, maxlen, ...)."""
    params = [p for p in inspect.signature(load_data).parameters if p not in ("path", "kwargs")]
    for key in options:
        if key == "path":
            raise ConfigError(
                Problem(
                    "data.options.path",
                    "a local copy is given as data.path",
                    f"data.path=/path/to/{_KERAS_FILES[name]}",
                )
            )
        if key not in params:
            hint = did_you_mean(key, params) or (
                "valid: " + ", ".join(params) if params else f"keras.datasets.{name}.load_data takes no options"
            )
            raise ConfigError(
                Problem(f"data.options.{key}", f"keras.datasets.{name}.load_data takes no argument {key!r}", hint)
            )
    return options


def _recording(get_file, calls: list[dict]):
    """Keras' get_file, noting what it was asked for (the download's URL, for the error)."""

    def wrapped(fname=None, origin=None, **kwargs):
        calls.append({"fname": fname, "origin": origin, **kwargs})
        return get_file(fname=fname, origin=origin, **kwargs)

    return wrapped


def _local_copy(local: Path, name: str, stack: contextlib.ExitStack):
    """A get_file that answers from data.path: a file, a directory of files, or an archive Keras would unpack."""

    def get_file(fname=None, origin=None, extract=False, untar=False, **_):
        if not (extract or untar):
            found = local if local.is_file() else local / str(fname)
            if not found.is_file():
                raise ConfigError(
                    Problem("data.path", f"{local} has no {fname} (keras.datasets.{name} reads {_KERAS_FILES[name]})")
                )
            return str(found)
        if local.is_file():  # the downloaded archive itself
            where = stack.enter_context(tempfile.TemporaryDirectory(prefix="dlcli-"))
            with tarfile.open(local) as archive:
                # The "data" filter refuses absolute paths and links out of `where` (Python >= 3.10.12).
                archive.extractall(where, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
            return where
        # The unpacked directory, or the directory holding it.
        return str(local if any(p.is_dir() for p in local.iterdir()) else local.parent)

    return get_file


def _saved_npz(path: Path, model_io: ModelIO) -> Raw:
    """A copy saved with np.savez(x_train=..., y_train=..., x_test=..., y_test=...)."""
    with open_npz(path, "data.path") as f:
        keys = set(f.files)
        if not {"x_train", "y_train"} <= keys:
            raise ConfigError(
                Problem("data.path", f"{path} holds {sorted(keys)}; expected x_train, y_train (and x_test, y_test)")
            )
        x, y = single(_channels(f["x_train"]), f["y_train"], model_io, str(path))
        test = (
            Part(*single(_channels(f["x_test"]), f["y_test"], model_io, str(path)))
            if {"x_test", "y_test"} <= keys
            else None
        )
    return Raw(x, y, test=test)


def _reason(exc: Exception) -> str:
    """Why Keras could not download or read a set, in a line."""
    return no_network(exc) or first_line(exc)[:160]


def _cannot_download(name: str, calls: list[dict], exc: Exception) -> Problem:
    origin = calls[-1]["origin"] if calls else None
    home = Path(os.environ.get("KERAS_HOME", "~/.keras")).expanduser()
    files = _KERAS_FILES[name]
    if name == "fashion_mnist":
        base = origin.rsplit("/", 1)[0] + "/" if origin else ""
        hint = f"download {files} from {base} into one directory and pass data.path=DIR (or put them in {home / 'datasets' / 'fashion-mnist'}/)"
    elif name.startswith("cifar"):
        hint = f"download {origin or files} elsewhere and pass data.path=/path/to/{files} (the archive, or the directory it unpacks to)"
    else:
        hint = f"download {origin or files} elsewhere and pass data.path=/path/to/{files} (or put it at {home / 'datasets' / files})"
    return Problem("data.source", f"cannot download {name} ({_reason(exc)})", hint)


def _shipped_mnist(reason: str, model_io: ModelIO) -> Raw:
    with np.load(_ASSETS / "mnist_5k.npz") as f:
        x, y = single(_channels(f["x"]), f["y"], model_io, "mnist")
    # The extract is ordered by class and has no test set of its own: the
    # usual seeded, stratified data.test_split holds one out.
    return Raw(
        x,
        y,
        note=f"MNIST could not be downloaded ({reason}): training on the 5,000-sample MNIST subset dlcli ships; data.path=/x/mnist.npz uses the full set",
    )


# --- scikit-learn's bundled sets -------------------------------------------------------

_SKLEARN = ("digits", "breast_cancer", "iris", "wine", "diabetes")

# One sample's shape as each set's loader gives it (before preprocessing), for `check` to compare
# with the model's input; sequences (imdb, reuters) take their length from data.preprocess.maxlen.
SAMPLE_SHAPES = {
    "mnist": (28, 28, 1),
    "fashion_mnist": (28, 28, 1),
    "cifar10": (32, 32, 3),
    "cifar100": (32, 32, 3),
    "boston_housing": (13,),
    "digits": (64,),
    "breast_cancer": (30,),
    "iris": (4,),
    "wine": (13,),
    "diabetes": (10,),
}


@register(*_SKLEARN)
def sklearn_dataset(cfg, model_io, seed) -> Raw:
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{cfg.source}")()
    x, y = single(bunch.data.astype("float32"), bunch.target, model_io, f"scikit-learn's {cfg.source}")
    # The names `load_*(as_frame=True).frame` gives its columns: a CSV of new samples is read by them.
    names = {"x": {n: [str(c) for c in bunch.feature_names] for n in x}, "y": {n: ["target"] for n in y}}
    return Raw(x, y, columns=names)


# --- local files -----------------------------------------------------------------------


@register("npz", "csv")
def local_files(cfg, model_io, seed) -> Raw:
    """One file split by fractions (data.path), or the seeds' separate train/val/test files."""
    read = reader(cfg, model_io)
    pool_key = "data.train_path" if cfg.train_path else "data.path"
    if not (cfg.train_path or cfg.path):
        raise ConfigError(
            Problem(
                "data.path",
                f"the {cfg.source} source needs data.path (or data.train_path, data.val_path, data.test_path)",
            )
        )
    pool, own_test = read(resolve_path(cfg.train_path or cfg.path, pool_key, cfg.origin), pool_key, True)
    # Given val and test files are read by the training file's column names, as new samples are.
    given = {
        split: read(
            resolve_path(cfg[f"{split}_path"], f"data.{split}_path", cfg.origin),
            f"data.{split}_path",
            False,
            pool.columns,
        )[0]
        for split in ("val", "test")
        if cfg[f"{split}_path"]
    }
    return Raw(pool.x, pool.y, val=given.get("val"), test=given.get("test", own_test), columns=pool.columns)


def new_samples(path: Path, cfg, model_io: ModelIO, trained: dict | None = None) -> Part:
    """A file of samples to predict, read with the run's column or array names (`.npz`, else CSV).

    Targets are optional: a file may hold exactly the model's features, or
    features and the targets it was labelled with, as the training data did.
    `trained`: the training CSV's column names (Part.columns); a CSV with a
    header that has them is read by those names, so column order does not matter.

    Problems with the file itself carry no config key (the caller names where the file
    came from), and their hints speak of samples for a trained model, not of training.
    """
    cfg, model_io, echo = without_echoes(cfg, model_io)
    if path.suffix == ".npz":
        part = _read_npz(path, "", cfg, model_io, pool=False, targets=False, new_samples=True)[0]
    else:
        part = _read_csv(path, "", cfg, model_io, targets=False, trained=trained, new_samples=True)
    return with_echoes(part, echo)


def target_hints(path: Path, cfg, model_io: ModelIO, trained: dict | None, outputs: list[str]) -> list[str]:
    """For a file of samples that lacks the targets of `outputs`: "for 'price', did you mean 'Price'?", per
    target column (an .npz: array) of which the file has a close one, as a feature column it lacks gets."""
    if path.suffix == ".npz":
        with open_npz(path, "") as f:
            columns, wanted = list(f.files), _npz_names(f, cfg, model_io, targets=True)[1]
    else:
        with _csv_frame(path, "", cfg, True, chunksize=1) as frames:
            columns = [str(c) for c in frames.get_chunk().columns]
        wanted = (trained or {}).get("y") or _specs(cfg.target, model_io.outputs, lambda s: None, "data.target")
    hints = []
    for output in outputs:
        spec = plain(wanted.get(output))
        for name in spec if isinstance(spec, list) else [spec]:
            if isinstance(name, str) and name not in columns and (hint := did_you_mean(name, columns)):
                hints.append(f"for {name!r}, {hint}")
    return hints


def new_sample_batches(
    path: Path, cfg, model_io: ModelIO, trained: dict | None = None, size: int | None = None
) -> Iterator[Part]:
    """new_samples `size` samples at a time, never the whole file in memory (None: the whole file, once).

    A CSV is read in chunks (the first one fixes the columns every chunk is read by), an
    .npz's arrays a batch of rows at a time from its zip members. Each chunk gets the checks
    new_samples makes; a problem in any chunk is reported as new_samples reports it, reading
    the file whole once more for the message (its counts of NaN and the like cover every row).
    """
    if size is None:
        yield new_samples(path, cfg, model_io, trained)
        return
    source_cfg, source_io, echo = without_echoes(cfg, model_io)
    try:
        if path.suffix == ".npz":
            chunks = _npz_chunks(path, source_cfg, source_io, size)
        else:
            chunks = _csv_chunks(path, source_cfg, source_io, trained, size)
        for part in chunks:
            yield with_echoes(part, echo)
    except ConfigError:
        new_samples(path, cfg, model_io, trained)  # raises the whole file's problem, in its words
        raise


def _csv_chunks(path: Path, cfg, model_io: ModelIO, trained: dict | None, size: int) -> Iterator[Part]:
    with _csv_frame(path, "", cfg, True, chunksize=size) as frames:
        layout = None
        while True:
            with _csv_errors(path, "", True):
                frame = next(frames, None)
            if frame is None:
                return
            layout = layout or _csv_layout(frame, path, "", cfg, model_io, False, trained, True)
            yield _csv_part(frame, layout, path, cfg, True)


def _npz_chunks(path: Path, cfg, model_io: ModelIO, size: int) -> Iterator[Part]:
    with open_npz(path, "") as f:
        features, target = _npz_names(f, cfg, model_io, targets=False)
        x = {name: _NpyRows(f, str(spec)) for name, spec in features.items()}
        y = {name: _NpyRows(f, str(spec)) for name, spec in target.items()}
        lengths = {len(rows) for rows in [*x.values(), *y.values()]}
        if len(lengths) != 1 or not lengths.pop():
            raise ConfigError(Problem("", f"{path.name}: arrays of different lengths, or none"))
        names = {**features, **target}
        for _ in range(0, len(next(iter(x.values()))), size):
            part = Part({k: r.read(size) for k, r in x.items()}, {k: r.read(size) for k, r in y.items()})
            _check_values(part, path, cfg, names, True)
            yield part


class _NpyRows:
    """The rows of one array of an open .npz, read in order a batch at a time from its (deflated or
    stored) zip member. An array in Fortran order (as pandas' to_numpy gives) has no rows to stream:
    its member is copied to an anonymous temporary file, deleted when closed, and memory-mapped."""

    def __init__(self, f, name: str):
        if name not in f.files:
            raise ConfigError(Problem("", f"no array {name!r}"))
        self.mapped, self.at = None, 0
        self.fp = f.zip.open(name + ".npy" if name + ".npy" in f.zip.namelist() else name)
        version = np.lib.format.read_magic(self.fp)
        read = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
        if version not in read:
            raise ConfigError(Problem("", f"array {name!r}: .npy format {version}"))
        self.shape, fortran, self.dtype = read[version](self.fp)
        if self.dtype.hasobject or not self.shape:
            raise ConfigError(Problem("", f"array {name!r} holds Python objects or a single value"))
        if fortran:
            self.copy = tempfile.TemporaryFile()
            shutil.copyfileobj(self.fp, self.copy)
            self.copy.flush()
            self.mapped = np.memmap(self.copy, self.dtype, "r", shape=self.shape, order="F")

    def __len__(self) -> int:
        return self.shape[0]

    def read(self, n: int) -> np.ndarray:
        n = min(n, len(self) - self.at)
        self.at += n
        if self.mapped is not None:
            return np.array(self.mapped[self.at - n : self.at])
        count = n * int(np.prod(self.shape[1:], dtype=np.int64))
        data = self.fp.read(count * self.dtype.itemsize)
        return np.frombuffer(data, self.dtype, count).reshape(n, *self.shape[1:]).copy()


def reader(cfg, model_io: ModelIO) -> Callable[..., tuple[Part, Part | None]]:
    """A function reading one npz or csv file into (samples, the file's own test split or None).

    `trained`: the training file's column names, to read a CSV by (see new_samples).
    """
    if cfg.source == "npz":
        return lambda path, key, pool, trained=None: _read_npz(path, key, cfg, model_io, pool)
    return lambda path, key, pool, trained=None: (_read_csv(path, key, cfg, model_io, trained=trained), None)


def _specs(value: Any, specs: list, default: Callable[[Any], Any], key: str) -> dict[str, Any]:
    """data.features / data.target as {model input or output name: spec}."""
    value = plain(value)
    if isinstance(value, dict):
        return value
    if value is not None and len(specs) != 1:
        kind = "inputs" if key.endswith("features") else "outputs"
        names = ", ".join(s.name for s in specs)
        raise ConfigError(
            Problem(
                key,
                f"the model has {len(specs)} {kind} ({names}): give a mapping from each to its data",
                f"{key}={{{specs[0].name}: ..., {specs[1].name}: ...}}",
            )
        )
    return {s.name: default(s) if value is None else value for s in specs}


def _key(base: str, value: Any, name: str) -> str:
    """The key to blame: data.features, or data.features.<input> when it is a mapping."""
    return f"{base}.{name}" if isinstance(plain(value), dict) else base


def _read_npz(
    path: Path, key: str, cfg, model_io: ModelIO, pool: bool, targets: bool = True, new_samples: bool = False
) -> tuple[Part, Part | None]:
    with open_npz(path, key) as f:
        arrays = list(f.files)
        defaults = cfg.features is None and cfg.target is None and len(model_io.inputs) == len(model_io.outputs) == 1
        if pool and defaults and "x" not in arrays and {"x_train", "y_train"} <= set(arrays):
            # Keras' own layout (mnist.npz): a train and a test set in one file.
            test = (
                Part(*single(_array(f, "x_test", path, key), _array(f, "y_test", path, key), model_io, str(path)))
                if {"x_test", "y_test"} <= set(arrays)
                else None
            )
            train = Part(*single(_array(f, "x_train", path, key), _array(f, "y_train", path, key), model_io, str(path)))
            for part in (train, test) if test is not None else (train,):
                names = {model_io.inputs[0].name: "x_train", model_io.outputs[0].name: "y_train"}
                _check_values(part, path, cfg, names, new_samples)
            return train, test
        features, target = _npz_names(f, cfg, model_io, targets)
        x = {
            name: _named_array(f, spec, path, _key("data.features", cfg.features, name))
            for name, spec in features.items()
        }
        y = {name: _named_array(f, spec, path, _key("data.target", cfg.target, name)) for name, spec in target.items()}
    _check_rows(x, y, path, key, {**{n: str(features[n]) for n in x}, **{n: str(target[n]) for n in y}})
    _check_values(Part(x, y), path, cfg, {**features, **target}, new_samples)
    return Part(x, y), None


def _npz_names(f, cfg, model_io: ModelIO, targets: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """The array of an .npz that feeds each model input and each output's target (without `targets`: those it has)."""
    features = _specs(
        cfg.features, model_io.inputs, lambda s: "x" if len(model_io.inputs) == 1 else s.name, "data.features"
    )
    target = _specs(
        cfg.target, model_io.outputs, lambda s: "y" if len(model_io.outputs) == 1 else s.name, "data.target"
    )
    return features, target if targets else {name: spec for name, spec in target.items() if str(spec) in f.files}


@contextlib.contextmanager
def open_npz(path: Path, key: str):
    """np.load of an .npz, never unpickling; a file that is no .npz archive is a ConfigError naming it."""
    try:
        f = np.load(path, allow_pickle=False)
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as exc:  # numpy's reasons are about pickles and .npy
        what = "it is empty" if path.is_file() and path.stat().st_size == 0 else "it is not an .npz (zip) archive"
        raise ConfigError(
            Problem(
                key,
                f"cannot read {path} as .npz: {what}",
                "save arrays with numpy.savez(path, x=..., y=...), or give a .csv file",
            )
        ) from exc
    if not isinstance(f, np.lib.npyio.NpzFile):  # a lone .npy array saved under an .npz name
        raise ConfigError(
            Problem(key, f"{path} holds one .npy array, not an .npz of named arrays", "save it with numpy.savez")
        )
    with f:
        yield f


def _check_values(part: Part, path: Path, cfg, arrays: dict[str, Any], new_samples: bool) -> None:
    """Features are finite numbers, numeric targets too: inf trains to NaN, and predicts nothing."""
    fix = "fix or drop those samples" if new_samples else "fill or drop them before training"
    for base, values in (("data.features", part.x), ("data.target", part.y)):
        spec = cfg.features if base == "data.features" else cfg.target
        for name, a in values.items():
            key = _key(base, spec, name)
            shown = arrays.get(name, name)
            if a.dtype.kind in "OUS" and base == "data.target":  # labels as words
                continue
            if a.dtype.kind not in "biuf":
                kind = {"U": "strings", "S": "bytes", "c": "complex numbers", "O": "Python objects"}.get(
                    a.dtype.kind, str(a.dtype)
                )
                raise ConfigError(
                    Problem(
                        key,
                        f"{path.name}: array {shown!r} holds {kind} ({a.dtype}), not real numbers",
                        "save it as a float or integer array",
                    )
                )
            if a.dtype.kind == "f":
                flat = a.reshape(len(a), -1)
                # New samples' NaN targets are targets not given: predict labels those samples.
                bad = (np.isinf(flat) if new_samples and base == "data.target" else ~np.isfinite(flat)).sum(axis=0)
                if bad.any():
                    what = "NaN" if np.isnan(flat).any() and not np.isinf(flat).any() else "NaN or infinite values"
                    where = ", ".join(f"{i} ({n})" for i, n in enumerate(bad) if n)
                    index = "feature index" if base == "data.features" else "index"
                    raise ConfigError(Problem(key, f"{path.name}: array {shown!r} has {what} at {index} {where}", fix))


def _named_array(f, name: Any, path: Path, key: str) -> np.ndarray:
    if str(name) not in f.files:
        raise ConfigError(
            Problem(
                key,
                f"{path.name} has no array {name!r}",
                did_you_mean(str(name), f.files) or f"arrays: {', '.join(f.files)}",
            )
        )
    return _array(f, str(name), path, key)


def _array(f, name: str, path: Path, key: str) -> np.ndarray:
    try:
        array = f[name]
    except ValueError as exc:  # object arrays need pickle, which dlcli never enables
        raise ConfigError(
            Problem(
                key,
                f"{path.name}: array {name!r} holds Python objects",
                "save it as a numeric array (pad sequences to one length first)",
            )
        ) from exc
    if array.ndim == 0:
        raise ConfigError(
            Problem(
                key, f"{path.name}: array {name!r} is a single value, not one row per sample", "save one row per sample"
            )
        )
    return array


def _check_rows(x: dict, y: dict, path: Path, key: str, arrays: dict[str, str]) -> None:
    """Every array has one row per sample; `arrays` maps model input/output names to the file's array names."""
    counts = {arrays.get(name, name): len(a) for name, a in [*x.items(), *y.items()]}
    if len(set(counts.values())) > 1:
        raise ConfigError(
            Problem(
                key,
                f"{path.name}: the arrays have different numbers of samples: "
                + ", ".join(f"{k!r} {v}" for k, v in counts.items()),
                "every array needs one row per sample",
            )
        )
    if not next(iter(counts.values()), 0):
        raise ConfigError(Problem(key, f"{path.name} has no samples: that split would be empty"))


def _read_csv(
    path: Path,
    key: str,
    cfg,
    model_io: ModelIO,
    targets: bool = True,
    trained: dict | None = None,
    new_samples: bool = False,
) -> Part:
    frame = _csv_frame(path, key, cfg, new_samples)
    layout = _csv_layout(frame, path, key, cfg, model_io, targets, trained, new_samples)
    return _csv_part(frame, layout, path, cfg, new_samples)


def _csv_frame(path: Path, key: str, cfg, new_samples: bool, chunksize: int | None = None):
    """pd.read_csv as every CSV is read (a frame, or with `chunksize` a reader of frames), its errors named."""
    import pandas as pd

    with _csv_errors(path, key, new_samples):
        return pd.read_csv(path, header=0 if cfg.header else None, sep=delimiter(cfg), chunksize=chunksize)


@contextlib.contextmanager
def _csv_errors(path: Path, key: str, new_samples: bool):
    """pandas' reasons for not reading a CSV (when it opens, or at a later chunk), as ConfigErrors."""
    import pandas as pd

    try:
        with warnings.catch_warnings():  # text among numbers: the checks after reading name its rows
            warnings.simplefilter("ignore", pd.errors.DtypeWarning)
            yield
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        hint = (
            "give a CSV with the training data's columns, or an .npz of its arrays"
            if new_samples
            else "check data.delimiter and data.header"
        )
        if not path.stat().st_size:
            raise ConfigError(Problem(key, f"{path} is empty (0 bytes): no header, no rows")) from exc
        raise ConfigError(Problem(key, f"cannot read {path.name} as CSV: {first_line(exc)}", hint)) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            Problem(
                key,
                f"cannot read {path.name} as CSV: byte {exc.start} is not UTF-8 text ({exc.object[exc.start : exc.start + 1]!r})",
                "save the file as UTF-8 text (a spreadsheet's 'CSV UTF-8'); a binary file is no CSV",
            )
        ) from exc


@dataclass
class _Layout:
    """Which columns of a CSV are which input's features and which output's targets."""

    columns: list[str]  # the names (or, without a header, positions) of the columns kept
    features: dict[str, list[int]]
    targets: dict[str, list[int]]
    key: str


def _csv_layout(
    frame, path: Path, key: str, cfg, model_io: ModelIO, targets: bool, trained: dict | None, new_samples: bool
) -> _Layout:
    """The columns of a CSV's first frame (the whole file, or its first chunk) as features and targets."""
    # A delimiter at the end of every line makes an empty, unnamed last column: it is no column.
    while (
        len(frame.columns) > 1
        and not frame.empty
        and frame.iloc[:, -1].isna().all()
        and (not cfg.header or str(frame.columns[-1]).startswith("Unnamed: "))
    ):
        frame = frame.iloc[:, :-1]
    columns = [str(c) for c in frame.columns]
    twice = [
        c
        for c in columns
        if cfg.header and re.fullmatch(r"(.+)\.\d+", c) and c.rsplit(".", 1)[0] in columns and not is_number(c)
    ]  # (a row of numbers read as a header is reported by the checks below)
    if twice:  # pandas renames a repeated name 'a' to 'a.1': which one a config means would be a guess
        name = twice[0].rsplit(".", 1)[0]
        raise ConfigError(
            Problem(key or "data.path", f"{path.name} names two columns {name!r}", "give each column its own name")
        )
    first_row = None if cfg.header or frame.empty else [str(v) for v in frame.iloc[0]]
    target = _specs(cfg.target, model_io.outputs, lambda s: -1 if len(model_io.outputs) == 1 else s.name, "data.target")
    # A file with a header is read by the training file's column names, never by position: a
    # column read by position under another name would be fed to the model as something it is not.
    names = [c for cols in (trained or {}).get("x", {}).values() for c in cols] if cfg.header else []
    by_name = any(c in columns for c in names)
    if new_samples and (hint := _delimiter_hint(columns, path)):
        raise ConfigError(Problem(key, f"{path.name} was read as one column", hint))
    numeric = _numbers_for_header(columns)
    if cfg.header and not names and not new_samples and numeric and not _picks_by_name(cfg, columns):
        # Training would take the first sample for the header (and lose it). (A config that names columns
        # is told below when the file lacks them; pandas' 0, 1, ... header is no row of data.)
        raise ConfigError(
            Problem(
                key or "data.path",
                f"{path.name} {_no_header(columns)}",
                "set data.header=false if the file has no header line (or give it one: a line of column names)",
            )
        )
    if names and not by_name and (numeric or not new_samples):
        # (New samples under other names are refused below, naming each column they lack.)
        header = f"give it the training file's header ({', '.join(names[:8])}{', ...' if len(names) > 8 else ''})"
        if numeric:
            what = _no_header(columns)
        else:
            shown = ", ".join(columns[:8]) + (", ..." if len(columns) > 8 else "")
            what = f"has none of the columns training read: its columns are {shown}"
        raise ConfigError(Problem(key, f"{path.name} {what}", header + "; in any order, other columns are left out"))
    by_name = bool(names)
    if by_name:
        target = _by_trained_names(target, trained.get("y", {}), columns, path, key, required=False)
    if targets:
        target_cols = {
            name: _columns(spec, columns, _key("data.target", cfg.target, name), path, first_row)
            for name, spec in target.items()
        }
    else:
        target_cols = _present_targets(target, columns, cfg, model_io, path)
    used = {c for cols in target_cols.values() for c in cols}
    features = _specs(
        cfg.features, model_io.inputs, lambda s: [c for c in range(len(columns)) if c not in used], "data.features"
    )
    if by_name:
        targets_read = frozenset(c for names in trained.get("y", {}).values() for c in names)
        features = _by_trained_names(features, trained.get("x", {}), columns, path, key, read_otherwise=targets_read)
    feature_cols = {
        name: _columns(spec, columns, _key("data.features", cfg.features, name), path, first_row)
        for name, spec in features.items()
    }
    if cfg.header and not names and not new_samples:
        _refuse_index_column(feature_cols, columns, cfg, path)
    if not targets:  # new samples may lack the targets: a target position (-1) that lands on a feature is no target
        chosen = {c for cols in feature_cols.values() for c in cols}
        target_cols = {name: cols for name, cols in target_cols.items() if not chosen & set(cols)}
    _check_selection(feature_cols, target_cols, columns, cfg, path)
    if not all(feature_cols.values()):
        raise ConfigError(
            Problem(
                "data.features",
                f"{path.name} has no feature columns besides the target ({', '.join(columns)})",
                _delimiter_hint(columns, path) or "check data.target and data.header",
            )
        )
    return _Layout(columns, feature_cols, target_cols, key)


def _csv_part(frame, layout: _Layout, path: Path, cfg, new_samples: bool) -> Part:
    """A CSV frame's features and targets by `layout`: numbers checked (no text, NaN or infinity)."""
    columns, feature_cols, target_cols, key = layout.columns, layout.features, layout.targets, layout.key
    extra = frame.iloc[:, len(columns) :]
    if not extra.isna().all(axis=None):  # a chunk with values in a last column the first chunk had empty
        raise ConfigError(Problem(key, f"{path.name} has values in column {len(columns)}, empty in its first rows"))
    if frame.empty:
        raise ConfigError(Problem(key, f"{path.name} has no rows: that split would be empty"))
    x = {
        name: _numeric(frame, cols, columns, path, _key("data.features", cfg.features, name), cfg.header, new_samples)
        for name, cols in feature_cols.items()
    }
    y = {}
    for name, cols in target_cols.items():
        values = frame.iloc[:, cols]
        missing = values.isna().sum()
        if missing.any() and not new_samples:  # new samples' empty targets stay NaN: predict labels those rows
            which = ", ".join(f"{columns[c]} ({n})" for c, n in zip(cols, missing) if n)
            raise ConfigError(
                Problem(
                    _key("data.target", cfg.target, name),
                    f"{path.name} has missing targets in column {which}",
                    "drop those rows before training",
                )
            )
        values = values.to_numpy()
        if values.dtype.kind == "f" and np.isinf(values).any():
            which = ", ".join(repr(columns[c]) for c, inf in zip(cols, np.isinf(values).any(axis=0)) if inf)
            raise ConfigError(
                Problem(
                    _key("data.target", cfg.target, name),
                    f"{path.name} has infinite targets in column {which}",
                    "drop or fix those rows" + ("" if new_samples else " before training"),
                )
            )
        y[name] = values[:, 0] if values.shape[1] == 1 else values
    names = {
        "x": {n: [columns[c] for c in cols] for n, cols in feature_cols.items()},
        "y": {n: [columns[c] for c in cols] for n, cols in target_cols.items()},
    }
    return Part(x, y, names if cfg.header else {})


def _by_trained_names(
    specs: dict[str, Any],
    trained: dict[str, list[str]],
    columns: list[str],
    path: Path,
    key: str,
    required: bool = True,
    read_otherwise: frozenset = frozenset(),
) -> dict[str, Any]:
    """Specs of new samples' columns as the names training read (which were positions, perhaps).

    Only positions are replaced: names a user gives are used as given. A
    feature the file lacks is reported by name; a target it lacks is no target.
    `read_otherwise`: columns training read for something else (the targets), never suggested.
    """
    out = dict(specs)
    for name, names in trained.items():
        if name not in out or not _positional(out[name], columns):
            continue
        missing = [c for c in names if c not in columns]
        if missing and required:
            others = {
                c.lower(): c for c in columns if c not in names and c not in read_otherwise
            }  # 'Weight' for 'weight' before 'Height'
            close = [
                f"for {c!r}, {hint}"
                for c in missing[:8]
                if (hint := did_you_mean(c, [others[c.lower()]] if c.lower() in others else others.values()))
            ]
            shown = ", ".join(columns[:8]) + (", ..." if len(columns) > 8 else "")
            raise ConfigError(
                Problem(
                    key,
                    f"{path.name} has no column{'s' if len(missing) > 1 else ''} "
                    f"{', '.join(map(repr, missing[:8]))}{', ...' if len(missing) > 8 else ''}"
                    f" (training read {', '.join(names[:8])}{', ...' if len(names) > 8 else ''})",
                    "; ".join(
                        (close or [f"its columns are {shown}"])
                        + ["give the training data's columns, in any order; other columns are left out"]
                    ),
                )
            )
        out[name] = names[0] if len(names) == 1 else names
    return out


def _numbers_for_header(columns: list[str]) -> bool:
    """Whether a CSV's header line looks like a row of data: mostly numbers, and not the 0, 1, 2, ...
    that pandas writes for a frame without column names."""
    return sum(map(is_number, columns)) > len(columns) / 2 and columns != [str(i) for i in range(len(columns))]


def _no_header(columns: list[str]) -> str:
    return f"has no header line: its first row is numbers ({', '.join(columns[:4])}, ...)"


def _picks_by_name(cfg, columns: list[str]) -> bool:
    """Whether data.target or data.features names a column, rather than giving positions (or nothing)."""
    for spec in (plain(cfg.target), plain(cfg.features)):
        for value in spec.values() if isinstance(spec, dict) else [spec]:
            if value is not None and not _positional(value, columns):
                return True
    return False


def _refuse_index_column(feature_cols: dict[str, list[int]], columns: list[str], cfg, path: Path) -> None:
    """A column with an empty header cell (pandas calls it 'Unnamed: 0') is most likely the index pandas'
    to_csv writes: row numbers, no feature. It is read only when data.features names it."""
    spec = plain(cfg.features)
    named = [v for value in (spec.values() if isinstance(spec, dict) else [spec]) for v in _items(value)]
    chosen = sorted({c for cols in feature_cols.values() for c in cols})
    unnamed = [c for c in chosen if re.fullmatch(r"Unnamed: \d+", columns[c]) and columns[c] not in named]
    if not unnamed:
        return
    rest = [columns[c] for c in chosen if c not in unnamed]
    example = f"data.features=[{','.join(rest)}]" if len(feature_cols) == 1 and len(rest) <= 8 else "data.features"
    which = ", ".join(str(c) for c in unnamed)
    raise ConfigError(
        Problem(
            _key("data.features", cfg.features, next(iter(feature_cols))),
            f"{path.name}: column {which} has an empty name in the header line (pandas reads it as"
            f" {columns[unnamed[0]]!r}): most likely the row index pandas' to_csv writes, which would be a feature",
            f"choose the features ({example}; name {columns[unnamed[0]]!r} there to keep it),"
            " or write the file with to_csv(..., index=False)",
        )
    )


def _present_targets(target: dict, columns: list[str], cfg, model_io: ModelIO, path: Path) -> dict[str, list[int]]:
    """The target columns a file of new samples has; none when its columns are exactly the model's features."""
    found = {}
    for name, spec in target.items():
        with contextlib.suppress(ConfigError):
            found[name] = _columns(spec, columns, "data.target", path)
    named = any(isinstance(spec, str) and spec in columns for spec in target.values())
    shapes = [i.shape for i in model_io.inputs]
    if (
        not named
        and cfg.features is None
        and len(shapes) == 1
        and None not in shapes[0]
        and len(columns) <= int(np.prod(shapes[0]))
    ):
        return {}  # a positional target, and no more columns than the model's features: all are features
    return found


def _columns(spec: Any, columns: list[str], key: str, path: Path, first_row: list[str] | None = None) -> list[int]:
    """Column indices from a name, an index, a list of either, or a slice string like '0:9'.

    `first_row`: the file's first row when data.header=false, so that a column
    name found there says the file has a header after all.
    """
    spec = plain(spec)
    n = len(columns)
    if isinstance(spec, str) and ":" in spec and spec not in columns:
        start, _, stop = spec.partition(":")
        try:
            bounds = [int(start) if start else None, int(stop) if stop else None]
        except ValueError:  # a name with a colon that is no column
            close = did_you_mean(spec, columns)
            raise ConfigError(
                Problem(
                    key,
                    f"no column {spec!r}, and it is not a column slice",
                    close or "slices are integer positions such as '0:9' or '1:'",
                )
            ) from None
        if any(b is not None and not -n <= b <= n for b in bounds):
            raise ConfigError(
                Problem(
                    key,
                    f"the slice {spec!r} runs past the columns: {path.name} has {n} ({_span(n)})",
                    f"a slice such as '0:{n - 1}' or '1:' stays within them",
                )
            )
        picked = list(range(n))[slice(*bounds)]
        if not picked:
            raise ConfigError(Problem(key, f"{spec!r} selects none of the {n} columns of {path.name}"))
        return picked
    picked = []
    for item in spec if isinstance(spec, list) else [spec]:
        if isinstance(item, int) and not isinstance(item, bool):
            if not -n <= item < n:
                hint = (
                    f"YAML reads an unquoted slice such as {item // 60}:{item % 60} as the base-60 number {item}: quote slices, features: '{item // 60}:{item % 60}'"
                    if item >= 60
                    else f"columns are numbered 0 to {n - 1} (or -{n} to -1 from the end)"
                )
                raise ConfigError(Problem(key, f"no column {item}: {path.name} has {n} columns ({_span(n)})", hint))
            picked.append(item % n)
        elif str(item) in columns:
            picked.append(columns.index(str(item)))
        else:
            listing = ", ".join(columns) if n <= 20 else ", ".join(columns[:20]) + f", ... ({n} in all)"
            close = did_you_mean(str(item), columns)
            if first_row is not None and str(item) in first_row:
                hint = f"{item!r} is in the first row of {path.name}, so the file has a header: set data.header=true"
            elif first_row is not None:  # headerless: its columns have numbers, not the names the config gives
                hint = (
                    f"{path.name} has no header (data.header=false), so its columns are numbered 0 to {n - 1}: "
                    "give it a header line with the names, or pick the columns by number"
                )
            else:
                hint = _delimiter_hint(columns, path) or (
                    f"{close} columns of {path.name}: {listing}" if close else f"columns of {path.name}: {listing}"
                )
            # The file is named in the hint (data.path and data.test_path may differ); the error line stays short.
            raise ConfigError(Problem(key, f"no column {item!r}", hint))
    return picked


def _items(spec: Any) -> list:
    return spec if isinstance(spec, list) else [spec]


def _positional(spec: Any, columns: list[str]) -> bool:
    """A column spec by position only: an index, a slice string or a list of indices."""
    items = _items(plain(spec))
    return all(
        (isinstance(i, int) and not isinstance(i, bool)) or (isinstance(i, str) and ":" in i and i not in columns)
        for i in items
    )


def _span(n: int) -> str:
    return f"positions 0 to {n - 1}" if n > 1 else "position 0"


def _delimiter_hint(columns: list[str], path: Path) -> str | None:
    """One column whose name holds ';' or a tab: the file was split on the wrong delimiter."""
    if len(columns) == 1:
        for sep, shown, typed in (
            (";", ";", "\"data.delimiter=';'\""),
            ("\t", "\\t", "data.delimiter=tab"),
            ("|", "|", "\"data.delimiter='|'\""),
        ):
            if sep in columns[0]:
                return f'{path.name} was read as one column, {columns[0][:60]!r}: pass {typed} (in a recipe, delimiter: "{shown}")'
    return None


def delimiter(cfg) -> str:
    """data.delimiter; `tab` (or a typed backslash-t) for the tab that shells make hard to pass."""
    return {"tab": "\t", "\\t": "\t"}.get(cfg.delimiter, cfg.delimiter)


def _check_selection(
    feature_cols: dict[str, list[int]], target_cols: dict[str, list[int]], columns: list[str], cfg, path: Path
) -> None:
    """No label among the features (the model would see its answer), and no column twice in one input."""
    targets = {c: name for name, cols in target_cols.items() for c in cols}
    for name, cols in feature_cols.items():
        key = _key("data.features", cfg.features, name)
        for c in cols:
            if c in targets:
                rest = [i for i in range(len(columns)) if i not in targets]
                example = (
                    f", e.g. data.features=[{','.join(str(i) for i in rest)}]"
                    if len(feature_cols) == 1 and len(rest) <= 12
                    else ""
                )
                where = _key("data.target", cfg.target, targets[c])
                raise ConfigError(
                    Problem(
                        key,
                        f"column {columns[c]!r} of {path.name} is the target ({where}) and also a feature: the model would see its own label",
                        f"leave it out of {key}{example}",
                    )
                )
    for name, cols in feature_cols.items():  # two inputs may share columns (a wide and a deep branch)
        twice = sorted({c for c in cols if cols.count(c) > 1})
        if twice:
            which = ", ".join(repr(columns[c]) for c in twice)
            raise ConfigError(
                Problem(
                    _key("data.features", cfg.features, name),
                    f"column {which} of {path.name} is selected twice",
                    "select each column once",
                )
            )


def _numeric(
    frame, cols: list[int], columns: list[str], path: Path, key: str, header: bool = True, new_samples: bool = False
) -> np.ndarray:
    import pandas as pd

    part, dtypes = frame.iloc[:, cols], frame.dtypes.tolist()  # (frame.dtypes builds a Series each time)
    for c in cols:
        if not pd.api.types.is_numeric_dtype(dtypes[c]):
            bad = frame.iloc[:, c][pd.to_numeric(frame.iloc[:, c], errors="coerce").isna()]
            hint = "the model takes numbers there" if new_samples else "leave it out of data.features"
            if not header and len(frame) > 1 and pd.to_numeric(frame.iloc[1:, c], errors="coerce").notna().all():
                hint = "only its first value is not a number: that row is a header, so set data.header=true"
            raise ConfigError(
                Problem(
                    key,
                    f"{path.name}: column {columns[c]!r} is not numeric"
                    + (f" (data row {bad.index[0] + 1} holds {bad.iloc[0]!r})" if len(bad) else ""),
                    hint,
                )
            )
    x = part.to_numpy(dtype="float64")
    fix = "fill or drop those rows" if new_samples else "fill or drop them before training"
    nan = np.isnan(x)
    if nan.any():
        which = ", ".join(f"{columns[cols[i]]!r} ({n} NaN)" for i, n in enumerate(nan.sum(axis=0)) if n)
        raise ConfigError(Problem(key, f"{path.name} has NaN in feature column {which}{_first_row(frame, nan)}", fix))
    huge = np.abs(x) > np.finfo("float32").max  # inf (1e400 reads as inf), and 1e39: inf in float32
    if huge.any():
        which = ", ".join(f"{columns[cols[i]]!r} ({n})" for i, n in enumerate(huge.sum(axis=0)) if n)
        raise ConfigError(
            Problem(
                key,
                f"{path.name} has infinite or too large values (beyond float32's ±3.4e38) in feature column {which}"
                + _first_row(frame, huge),
                fix,
            )
        )
    return x.astype("float32")


def _first_row(frame, bad: np.ndarray) -> str:
    """Where the first of a frame's bad values is, as a data row (1 is the first after the header; a later
    chunk's frame keeps counting)."""
    return f", the first in data row {frame.index[np.flatnonzero(bad.any(axis=1))[0]] + 1}"


# --- synthetic -------------------------------------------------------------------------


@register("synthetic", needs_model=True)
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
        if spec.kind == "sparse":
            y[spec.name] = rng.integers(0, spec.units, size=shape[:-1])
        elif spec.kind == "one_hot":
            y[spec.name] = np.eye(spec.units, dtype="float32")[rng.integers(0, spec.units, size=shape[:-1])]
        elif spec.kind == "binary":
            y[spec.name] = rng.integers(0, 2, size=shape).astype("float32")
        else:
            y[spec.name] = rng.standard_normal(shape).astype("float32")
    note = "synthetic data: random samples and targets shaped by the model; the metrics below measure nothing learnt"
    return Raw(x, y, note=note)
