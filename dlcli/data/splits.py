"""Train/val/test splits by index: disjoint by construction, stratified for classification."""

from __future__ import annotations

import numpy as np

from dlcli.errors import ConfigError, Problem


def n_samples(arrays) -> int:
    first = next(iter(arrays.values())) if isinstance(arrays, dict) else arrays
    return len(first)


def take(arrays, index: np.ndarray):
    if isinstance(arrays, dict):
        return {k: v[index] for k, v in arrays.items()}
    return arrays[index]


def class_labels(y) -> np.ndarray | None:
    """Integer class labels to stratify on, or None when `y` is not a classification target."""
    if isinstance(y, dict):
        if len(y) != 1:
            return None
        (y,) = y.values()
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1 and np.isin(y, (0, 1)).all():
        return y.argmax(axis=1)
    y = y.reshape(len(y), -1)
    if y.shape[1] != 1 or not np.allclose(y, np.round(y)):
        return None
    labels = y[:, 0].astype(int)
    counts = np.bincount(labels - labels.min())
    return labels if 2 <= len(counts[counts > 0]) <= max(2, len(labels) // 2) and counts[counts > 0].min() >= 2 else None


def holdout(n: int, fraction: float, y, seed: int, stratify: bool, key: str) -> tuple[np.ndarray, np.ndarray]:
    """(kept, held out) index arrays."""
    from sklearn.model_selection import train_test_split

    index = np.arange(n)
    if fraction <= 0:
        return index, index[:0]
    labels = class_labels(y) if stratify else None
    try:
        kept, held = train_test_split(index, test_size=fraction, random_state=seed, stratify=labels)
    except ValueError as exc:
        if labels is None:
            raise ConfigError(Problem(key, f"cannot hold out {fraction} of {n} samples: {exc}")) from exc
        kept, held = train_test_split(index, test_size=fraction, random_state=seed)
    if len(kept) == 0 or len(held) == 0:
        raise ConfigError(Problem(key, f"holding out {fraction} of {n} samples leaves an empty split"))
    return np.sort(kept), np.sort(held)
