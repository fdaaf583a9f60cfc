"""Data bigger than memory: many npz or csv files, read one at a time.

The Keras-free half of streaming. `index` reads each file once to count its
rows, check its columns and collect the labels to stratify on; the splits are
then ordinary index arrays over all rows (`dlcli.data.splits`), and `Rows`
reads the files back, one at a time, for fitting the preprocessing and (in
`dlcli.data.stream`) for training.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from dlcli.data.sources import missing_file
from dlcli.data.splits import Part
from dlcli.errors import ConfigError, Problem


def find(value: str, key: str, suffix: str, origin: str | None = None) -> list[Path]:
    """The files a path names: one file, every `*.suffix` in a directory, or a glob."""
    path = Path(value).expanduser()
    if path.is_dir():
        found = sorted(path.glob(f"*.{suffix}"))
    elif path.is_file():
        found = [path]
    elif any(ch in value for ch in "*?["):
        found = sorted(Path(p) for p in glob.glob(os.path.expanduser(value)) if Path(p).is_file())
    else:
        raise ConfigError(missing_file(value, key, origin))
    if not found:
        raise ConfigError(Problem(key, f"no .{suffix} files in {value!r} (resolved to {path.resolve()})"))
    return found


@dataclass
class Shards:
    files: list[Path]
    sizes: np.ndarray
    read: Callable[[Path], Part]

    def __len__(self) -> int:
        return int(self.sizes.sum())

    def groups(self, rows: np.ndarray) -> list[tuple[int, np.ndarray]]:
        """Rows (global indices) as (file number, rows within that file), files in order."""
        offsets = np.concatenate([[0], np.cumsum(self.sizes)])
        owner = np.searchsorted(offsets, rows, side="right") - 1
        return [(int(f), rows[owner == f] - offsets[f]) for f in np.unique(owner)]


@dataclass
class Rows:
    """Some rows of some files: one split of streamed data."""

    shards: Shards
    index: np.ndarray

    def __len__(self) -> int:
        return len(self.index)

    def parts(self) -> Iterator[Part]:
        """The split's samples, one file at a time."""
        for f, local in self.shards.groups(self.index):
            yield self.shards.read(self.shards.files[f]).take(local)


def index(files: list[Path], read: Callable[[Path], Part], io, key: str) -> tuple[Shards, dict[str, np.ndarray], Part]:
    """Read every file once: its size, the targets to stratify on, and a first sample to check shapes."""
    sizes, targets, sample = [], [], None
    stratify_on = next((o.name for o in io.outputs if o.kind != "regression"), None)
    for path in files:
        part = read(path)
        if not len(part):
            raise ConfigError(Problem(key, f"{path.name} has no samples"))
        if sample is None:
            sample = part.take(np.arange(min(len(part), 64)))
        sizes.append(len(part))
        if stratify_on is not None:
            targets.append(np.asarray(part.y[stratify_on]))
    pooled = {stratify_on: np.concatenate(targets)} if targets else {}
    return Shards(files, np.asarray(sizes), read), pooled, sample


def merge(a: tuple[Shards, dict], b: tuple[Shards, dict]) -> tuple[Shards, dict]:
    """Two sets of files as one pool (K-fold over given training and validation files)."""
    (sa, ya), (sb, yb) = a, b
    return Shards(sa.files + sb.files, np.concatenate([sa.sizes, sb.sizes]), sa.read), {
        k: np.concatenate([ya[k], yb[k]]) for k in ya
    }
