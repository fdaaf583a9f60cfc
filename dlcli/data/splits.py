"""Train/val/test as index arrays over one pool of samples: disjoint by construction.

The same functions split arrays held in memory and rows of streamed files, so
both get the same guarantees: test is held out first, then validation (or the
K-fold's held-out fold), then `data.limit` cuts the training split; each cut is
seeded and stratified by class for classification outputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dlcli import foreign
from dlcli.errors import ConfigError, Problem


@dataclass
class Part:
    """Samples of one split, keyed by model input and output names."""

    x: dict[str, np.ndarray]
    y: dict[str, np.ndarray]
    # The header names of a CSV's columns, {"x": {input: [...]}, "y": {output: [...]}}:
    # kept with the run, so that new samples are read by name, in any column order.
    columns: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(next(iter(self.x.values())))

    def take(self, index: np.ndarray) -> Part:
        return Part({k: v[index] for k, v in self.x.items()}, {k: v[index] for k, v in self.y.items()}, self.columns)

    @staticmethod
    def concat(parts: list[Part]) -> Part:
        first = parts[0]
        return Part(
            {k: np.concatenate([p.x[k] for p in parts]) for k in first.x},
            {k: np.concatenate([p.y[k] for p in parts]) for k in first.y},
            first.columns,
        )


@dataclass(frozen=True)
class Fold:
    """Fold `index` (1-based) of a K-fold split: its samples are the validation split."""

    index: int
    k: int

    @classmethod
    def of(cls, train_cfg) -> Fold | None:
        fold = train_cfg.get("fold")
        return cls(int(fold), int(train_cfg.kfold)) if fold else None


def class_labels(y: dict[str, np.ndarray], io) -> np.ndarray | None:
    """Class ids of the first classification output, to stratify on; None for regression."""
    for out in io.outputs:
        if out.kind == "regression" or out.name not in y:
            continue
        values = np.asarray(y[out.name])
        if values.ndim == 2 and values.shape[1] > 1:
            return values.argmax(axis=1)
        values = values.reshape(len(values), -1)
        return np.unique(values[:, 0], return_inverse=True)[1].reshape(-1) if values.shape[1] == 1 else None
    return None


def assign(
    n: int, labels: np.ndarray | None, data_cfg, seed: int, fold: Fold | None = None, given: tuple[str, ...] = ()
) -> dict[str, np.ndarray]:
    """Indices into a pool of n samples for each split; splits in `given` come from elsewhere (files)."""
    index = np.arange(n)
    out: dict[str, np.ndarray] = {}
    if "test" not in given and data_cfg.test_split > 0:
        index, out["test"] = holdout(index, data_cfg.test_split, labels, seed, "data.test_split")
    if fold is not None:
        index, out["val"] = kfold(index, labels, fold, seed)
    elif "val" not in given and data_cfg.val_split > 0:
        index, out["val"] = holdout(index, data_cfg.val_split, labels, seed + 1, "data.val_split")
    if data_cfg.limit is not None:
        index = index[: data_cfg.limit]
    out["train"] = index
    return out


def holdout(
    index: np.ndarray, fraction: float, labels: np.ndarray | None, seed: int, key: str
) -> tuple[np.ndarray, np.ndarray]:
    """(kept, held out): `fraction` of `index` held out, stratified when labels are given."""
    from sklearn.model_selection import train_test_split

    if len(index) < 2:
        raise ConfigError(
            Problem(
                key,
                f"cannot hold out {fraction:g} of {len(index)} sample(s): a split would be empty",
                "use more data or fewer splits",
            )
        )
    try:
        kept, held = train_test_split(
            index, test_size=fraction, random_state=seed, stratify=None if labels is None else labels[index]
        )
    except ValueError as exc:
        if labels is None:
            raise ConfigError(Problem(key, f"cannot hold out {fraction:g} of {len(index)} samples: {exc}")) from exc
        reason = foreign.sklearn_stratify_reason(exc)  # scikit-learn then lists every class: not one screen
        raise ConfigError(
            Problem(
                key,
                f"cannot hold out {fraction:g} of {len(index)} samples stratified by class: {reason}",
                "some class is too rare; set data.stratify=false or use more data",
            )
        ) from exc
    if len(kept) == 0 or len(held) == 0:
        raise ConfigError(Problem(key, f"holding out {fraction:g} of {len(index)} samples leaves an empty split"))
    return kept, held


def kfold(index: np.ndarray, labels: np.ndarray | None, fold: Fold, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(training, validation) indices of one fold; the K validation folds partition `index`."""
    from sklearn.model_selection import KFold, StratifiedKFold

    if not 1 <= fold.index <= fold.k:
        raise ConfigError(Problem("train.fold", f"expected a fold in 1..{fold.k}, got {fold.index}"))
    if fold.k > len(index):
        raise ConfigError(
            Problem(
                "train.kfold",
                f"{fold.k} folds of {len(index)} samples: a fold would be empty",
                f"use at most {len(index)} folds (5 or 10 is usual)",
            )
        )
    splitter = (
        KFold(fold.k, shuffle=True, random_state=seed)
        if labels is None
        else StratifiedKFold(fold.k, shuffle=True, random_state=seed)
    )
    try:
        folds = list(splitter.split(index, None if labels is None else labels[index]))
    except ValueError as exc:
        hint = "use fewer folds" + ("" if labels is None else ", or data.stratify=false")
        raise ConfigError(
            Problem("train.kfold", f"cannot split {len(index)} samples into {fold.k} folds: {exc}", hint)
        ) from exc
    train, val = folds[fold.index - 1]
    return index[train], index[val]
