"""Data for a run: source -> splits -> preprocessing fit on the training split.

`load` is what training and `evaluate` share: the same config and seed give
the same splits, and `evaluate` passes the run's saved preprocessing state so
nothing is refit on val or test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dlcli.data import sources, splits
from dlcli.data.io import ModelIO
from dlcli.data.preprocess import Preprocessor
from dlcli.errors import ConfigError, Problem


@dataclass
class Split:
    x: Any
    y: Any

    def __len__(self) -> int:
        return splits.n_samples(self.x)


@dataclass
class Dataset:
    train: Split
    val: Split | None
    test: Split | None
    preprocessor: Preprocessor
    note: str | None = None


def load(data_cfg, io: ModelIO, seed: int, state: dict | None = None) -> Dataset:
    """Load, split and preprocess. With `state` (a saved run's), reuse it instead of fitting."""
    raw = sources.get(data_cfg.source)(data_cfg, io, seed)
    n = splits.n_samples(raw.x)
    x, y = raw.x, raw.y
    x_test, y_test = raw.x_test, raw.y_test
    if x_test is None and data_cfg.test_split > 0:
        kept, held = splits.holdout(n, data_cfg.test_split, y, seed, data_cfg.stratify, "data.test_split")
        x_test, y_test = splits.take(x, held), splits.take(y, held)
        x, y = splits.take(x, kept), splits.take(y, kept)
    x_val, y_val = raw.x_val, raw.y_val
    if x_val is None and data_cfg.val_split > 0:
        kept, held = splits.holdout(splits.n_samples(x), data_cfg.val_split, y, seed + 1, data_cfg.stratify, "data.val_split")
        x_val, y_val = splits.take(x, held), splits.take(y, held)
        x, y = splits.take(x, kept), splits.take(y, kept)
    if data_cfg.limit is not None:
        if data_cfg.limit < 1:
            raise ConfigError(Problem("data.limit", f"expected a positive number of samples, got {data_cfg.limit}"))
        index = slice(0, data_cfg.limit)
        x = {k: v[index] for k, v in x.items()} if isinstance(x, dict) else x[index]
        y = {k: v[index] for k, v in y.items()} if isinstance(y, dict) else y[index]
    pre = Preprocessor(_plain(data_cfg.preprocess), io, state)
    if state is None:
        pre.fit(x, y)
    return Dataset(
        train=Split(*pre.transform(x, y)),
        val=Split(*pre.transform(x_val, y_val)) if x_val is not None else None,
        test=Split(*pre.transform(x_test, y_test)) if x_test is not None else None,
        preprocessor=pre,
        note=raw.note,
    )


def _plain(node) -> dict:
    from omegaconf import OmegaConf

    return OmegaConf.to_container(node, resolve=True) if not isinstance(node, dict) else dict(node)
