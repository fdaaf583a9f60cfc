"""Evaluation figures as PNG (matplotlib's Agg, no display): confusion matrices, ROC and
precision-recall curves, predicted against actual, residuals.

Every function takes numbers already computed (by scikit-learn, in dlcli.evaluation)
and only draws them, so what a figure shows is what eval.json holds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dlcli.runs.rundir import atomic_write


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    plt = _pyplot()
    fig.tight_layout()
    with atomic_write(path) as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)
    return path


def confusion(matrix: np.ndarray, classes: list[str], path: Path, title: str) -> Path:
    """Counts on the left, each true class normalised to 1 on the right."""
    plt = _pyplot()
    matrix = np.asarray(matrix)
    totals = matrix.sum(axis=1, keepdims=True)
    normalised = np.divide(matrix, totals, out=np.zeros(matrix.shape, dtype="float64"), where=totals > 0)
    size = min(4 + 0.45 * len(classes), 16)
    fig, axes = plt.subplots(1, 2, figsize=(2 * size, size))
    for ax, values, what in ((axes[0], matrix, "counts"), (axes[1], normalised, "normalised by true class")):
        ax.imshow(values, cmap="Blues")
        ax.set_title(f"{title}: {what}")
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ticks = range(len(classes))
        ax.set_xticks(ticks, classes, rotation=90 if len(classes) > 6 else 0)
        ax.set_yticks(ticks, classes)
        if len(classes) <= 20:
            high = values.max() / 2 if values.size else 0
            for (i, j), v in np.ndenumerate(values):
                text = f"{v:d}" if values.dtype.kind in "iu" else f"{v:.2f}"
                ax.text(j, i, text, ha="center", va="center", color="white" if v > high else "black", fontsize=8)
    return _save(fig, path)


def curves(kind: str, lines: dict[str, tuple], path: Path, title: str) -> Path:
    """`kind` roc or pr; `lines`: label -> (x, y, area) where x, y are FPR, TPR or recall, precision."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for label, (x, y, area) in lines.items():
        ax.plot(x, y, label=f"{label} ({area:.3f})" if area is not None else label)
    if kind == "roc":
        ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        ax.set_title(f"{title}: ROC (AUC)")
    else:
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        ax.set_title(f"{title}: precision-recall (average precision)")
    if len(lines) <= 20:
        ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def predicted_vs_actual(true: np.ndarray, predicted: np.ndarray, path: Path, title: str) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.scatter(true, predicted, s=8, alpha=0.6)
    low, high = float(min(true.min(), predicted.min())), float(max(true.max(), predicted.max()))
    ax.plot([low, high], [low, high], linestyle=":", color="grey")
    ax.set_xlabel("actual")
    ax.set_ylabel("predicted")
    ax.set_title(f"{title}: predicted vs actual")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def residuals(true: np.ndarray, predicted: np.ndarray, path: Path, title: str) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.hist(predicted - true, bins=30)
    ax.axvline(0, linestyle=":", color="grey")
    ax.set_xlabel("predicted - actual")
    ax.set_ylabel("samples")
    ax.set_title(f"{title}: residuals")
    return _save(fig, path)
