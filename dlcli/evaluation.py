"""What a finished run's model gets right and wrong on one of its splits (or a labelled file),
computed with scikit-learn from its predictions.

Each output is judged by what its loss makes it:
- classification (categorical or sparse loss): `classification_report` with the class names as
  the data spelt them, the confusion matrix, ROC AUC one-vs-rest (macro and weighted), log
  loss, and ROC and precision-recall curves;
- binary (one sigmoid unit): the same at a threshold, 0.5 unless one was fit on the validation
  split (`best-f1`, `youden`) and saved with the run in threshold.json, which predict applies too;
- multi-label (several sigmoid units, or 0/1 columns taken as they are: `multihot`): a report per
  label, named by its column, and scikit-learn's micro, macro and samples averages;
- soft (probabilities as targets): MAE, RMSE, R² and the cross-entropy against them: no classes;
- regression: MAE, RMSE, R² and MAPE in original units (after `target_scaler`), per target column
  when there are several (each in its own units), then pooled.
An output with several values per sample (a sequence, an image) is judged per element: each
position's class, or the MSE and MAE of every value.

`evaluate` computes and `write` saves (plots/eval/<split>/, threshold.json, eval.json), so the
command shows the numbers before it writes anything.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dlcli import foreign
from dlcli.errors import ConfigError, Problem
from dlcli.runs import evalplots
from dlcli.runs.load import no_split
from dlcli.runs.rundir import inside, unused, write_json

THRESHOLDS = "threshold.json"
METHODS = ("best-f1", "youden")
DRAWN_COLUMNS = 10  # a regression's per-column figures: two each, a second or so a figure


@dataclass
class Report:
    data: dict  # what eval.json holds
    folder: str  # plots/eval/<folder>/
    figures: list[tuple] = field(default_factory=list)  # (file name, drawing function, its arguments)
    fitted: dict | None = None  # thresholds fit by this evaluation, saved by `write`


def evaluate(run, split: str = "test", input: Path | None = None, batch_size: int | None = None, threshold=None):
    """The report of `run` (dlcli.runs.load.Run) on its `split`, or on the labelled file `input`.

    `threshold` (0.5, best-f1 or youden) is fit on the validation split and used here."""
    from dlcli.data import by_name
    from dlcli.lifecycle import evaluate_split

    method = threshold_method(threshold)
    batch = batch_size or run.cfg.train.batch_size
    dataset = None if input is not None else run.dataset()
    if input is not None:
        chosen, what, pre = run.labelled(input, batch), str(input), run.preprocessor()
    else:
        chosen, what, pre = getattr(dataset, split), split, dataset.preprocessor
        if chosen is None:
            raise no_split(dataset, split, "score")
    fitted = None
    if method is not None:
        fitted = fit_thresholds(run, method, dataset or run.dataset(), batch)
    thresholds = fitted if fitted is not None else saved_thresholds(run.path)
    with foreign.generator_end_quiet():
        metrics = evaluate_split(run.model, chosen, batch, pre)
    names = [o.name for o in pre.io.outputs]
    predicted, truth = (by_name(v, names) for v in chosen.predict(run.model, batch))
    report = Report({}, _folder(split, input), fitted=fitted)
    outputs = {
        spec.name: _judge(pre, spec, predicted[spec.name], truth[spec.name], thresholds.get(spec.name), report)
        for spec in pre.io.outputs
    }
    samples = len(next(iter(truth.values())))  # (a file read in chunks has no length until it is read)
    report.data = {"split": what, "samples": samples, "metrics": metrics, "outputs": outputs}
    return report


def place(run_dir: Path, split: str, input: Path | None = None) -> Path:
    """The folder of the figures, plots/eval/<split or input-FILE>/, refused where a link leads out of
    the run: the command asks before computing anything, so that a refusal costs nothing and leaves nothing."""
    return inside(run_dir, f"plots/eval/{_folder(split, input)}")


def write(run_dir: Path, report: Report, overrides: list[str] = ()) -> Path:
    """The figures, the thresholds fit (threshold.json) and eval.json (eval-1.json, ... beside earlier ones)."""
    folder = inside(run_dir, f"plots/eval/{report.folder}")  # refused where a link leads out of the run
    plots = []
    for name, draw, args in report.figures:
        plots.append(str(draw(*args, folder / name).relative_to(run_dir)))
    if report.fitted is not None:
        write_json(run_dir / THRESHOLDS, report.fitted)
    target = unused(run_dir / "eval.json")
    write_json(target, {**report.data, "plots": plots, "overrides": list(overrides)})
    return target


def scalars(data: dict) -> dict[str, float]:
    """One number per metric (compiled metrics, then each output's summary): what K-fold averages."""
    flat = dict(data["metrics"])
    several = len(data["outputs"]) > 1
    for name, judged in data["outputs"].items():
        for key, value in judged["summary"].items():
            if value is not None:
                flat[f"{name}_{key}" if several else key] = value
    return flat


# --- thresholds ----------------------------------------------------------------------------


def saved_thresholds(run_dir: Path) -> dict[str, dict]:
    """Output -> {value, method, split, samples}: the thresholds `evaluate --threshold` saved."""
    file = Path(run_dir) / THRESHOLDS
    if not file.is_file():
        return {}
    try:
        saved = json.loads(file.read_text())
        assert isinstance(saved, dict) and all(isinstance(float(t["value"]), float) for t in saved.values())
    except (ValueError, TypeError, KeyError, AssertionError, UnicodeDecodeError) as exc:
        raise ConfigError(
            Problem(
                "RUN",
                f"{file} is damaged: it is not the thresholds dlcli writes",
                "fit them again with dlcli evaluate RUN --threshold best-f1 (or youden, or 0.5), or delete the file",
            )
        ) from exc
    return saved


def fit_thresholds(run, method: str, dataset, batch_size: int) -> dict[str, dict]:
    """Each binary output's threshold: a number as given, or the one `method` picks on the validation split."""
    from sklearn.metrics import precision_recall_curve, roc_curve

    from dlcli.data import by_name

    pre = dataset.preprocessor
    binary = [s for s in pre.io.outputs if s.kind == "binary" and (s.units or 1) == 1]
    if not binary:
        kinds = ", ".join(f"{s.name} ({s.loss_name}, {s.units or 1} unit(s))" for s in pre.io.outputs)
        raise ConfigError(
            Problem(
                "--threshold",
                f"the model has no binary output of one unit, whose probability a threshold turns into a class: {kinds}",
                "evaluate without --threshold",
            )
        )
    if method not in METHODS:
        return {s.name: {"value": float(method), "method": "given"} for s in binary}
    if dataset.val is None:
        raise ConfigError(
            Problem(
                "--threshold",
                f"{method} is fit on the validation split, and the run has none",
                "train with data.val_split above 0, or give the threshold as a number (--threshold 0.5)",
            )
        )
    names = [o.name for o in pre.io.outputs]
    predicted, truth = (by_name(v, names) for v in dataset.val.predict(run.model, batch_size))
    fitted = {}
    for spec in binary:
        scores = probabilities(predicted[spec.name], spec).reshape(-1)
        y = np.asarray(truth[spec.name]).reshape(-1).astype("int64")
        if len(np.unique(y)) < 2:
            raise ConfigError(Problem("--threshold", f"output {spec.name!r}: the validation split has only one class"))
        if method == "best-f1":
            precision, recall, cuts = precision_recall_curve(y, scores)
            f1 = np.divide(
                2 * precision * recall, precision + recall, out=np.zeros_like(precision), where=precision + recall > 0
            )
            value = cuts[int(np.argmax(f1[:-1]))]
        else:  # Youden's J: the point of the ROC curve farthest above the diagonal
            fpr, tpr, cuts = roc_curve(y, scores)
            value = min(cuts[int(np.argmax(tpr - fpr))], 1.0)
        fitted[spec.name] = {"value": float(value), "method": method, "split": "val", "samples": int(len(y))}
    return fitted


def apply_threshold(values: np.ndarray, threshold: dict) -> np.ndarray:
    """0 and 1 from one unit's probabilities: 1 from the threshold up (scikit-learn's curves count it so)."""
    return (np.asarray(values) >= threshold["value"]).astype("int64")


def threshold_method(value) -> str | None:
    """--threshold checked (before any model loads): best-f1, youden, a number in (0, 1) as text, or None."""
    if value is None or value in METHODS:
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = None
    if number is None or not 0 < number < 1:
        raise ConfigError(
            Problem(
                "--threshold",
                f"expected a number between 0 and 1, best-f1 or youden, got {value!r}",
                "best-f1 maximises F1 on the validation split, youden maximises TPR - FPR there",
            )
        )
    return str(number)


# --- judging one output ----------------------------------------------------------------------


def _judge(pre, spec, values, truth, threshold: dict | None, report: Report) -> dict:
    values, truth = np.asarray(values), np.asarray(truth)
    several = len(pre.io.outputs) > 1
    title = spec.name if several else report.folder
    kind = pre.kind(spec.name)
    hinge = "hinge" in spec.loss_name.lower()
    if kind == "multihot":  # several 0/1 labels a sample, taken as they are: named by their columns
        units = values.shape[-1] if values.ndim > 1 else 1
        scores = probabilities(values, spec).reshape(-1, units)
        names = pre.target_columns(spec.name, units) or pre.class_names(spec.name, units)
        cut = 0.0 if hinge else 0.5
        y = truth.reshape(-1, units).astype("int64")
        return _multilabel(scores, y, names, cut, not hinge, report, spec.name, title)
    if kind == "soft":
        return _soft(pre, spec, probabilities(values, spec), truth, report, title)
    if not pre.classifies(spec.name):
        return _regression(pre, spec, values, truth, report, title)
    if spec.kind == "binary":
        units = values.shape[-1] if values.ndim > 1 else 1
        scores = probabilities(values, spec).reshape(-1, units)
        y = truth.reshape(-1, units).astype("int64")
        names = pre.class_names(spec.name, max(units, 2))
        if units == 1:
            threshold = threshold or {"value": 0.0 if hinge else 0.5, "method": "default"}
            return _binary(scores[:, 0], y[:, 0], names[:2], threshold, not hinge, report, spec.name, title)
        return _multilabel(scores, y, names, 0.0 if hinge else 0.5, not hinge, report, spec.name, title)
    units = values.shape[-1]
    probs = probabilities(values, spec).reshape(-1, units)
    one_hot = truth.size == probs.size and units > 1
    y = truth.reshape(-1, units).argmax(axis=1) if one_hot else truth.reshape(-1).astype("int64")
    return _categorical(probs, y, pre.class_names(spec.name, units), report, spec.name, title)


def _binary(scores, y, names, threshold, probabilities: bool, report: Report, name: str, title: str) -> dict:
    from sklearn import metrics as skm

    predicted = apply_threshold(scores, threshold)
    out = {"kind": "binary", "classes": names, "threshold": threshold, **_table(y, predicted, [0, 1], names)}
    both = len(np.unique(y)) == 2
    out["roc_auc"] = float(skm.roc_auc_score(y, scores)) if both else None
    out["average_precision"] = float(skm.average_precision_score(y, scores)) if both else None
    out["log_loss"] = float(skm.log_loss(y, np.clip(scores, 0, 1), labels=[0, 1])) if probabilities else None
    positive = out["report"][names[1]]
    out["summary"] = {
        "accuracy": out["report"]["accuracy"],
        "f1": positive["f1-score"],
        "precision": positive["precision"],
        "recall": positive["recall"],
        "roc_auc": out["roc_auc"],
        "log_loss": out["log_loss"],
    }
    _confusion_figure(report, name, out, title)
    if both:
        _curve_figures(report, name, {names[1]: (y, scores)}, title)
    return out


def _multilabel(scores, y, names, cut: float, probabilities: bool, report: Report, name: str, title: str) -> dict:
    from sklearn import metrics as skm

    predicted = (scores >= cut).astype("int64")
    labels = {}
    for i, label in enumerate(names):
        threshold = {"value": cut, "method": "default"}
        # one ROC and one PR figure hold every label (below): the per-label figures are not drawn
        labels[label] = _binary(
            scores[:, i], y[:, i], ["0", "1"], threshold, probabilities, Report({}, ""), label, label
        )
        labels[label].pop("classes")
    report_ = skm.classification_report(y, predicted, target_names=names, output_dict=True, zero_division=0)
    report_["samples avg"].update(_samples_average(y, predicted))
    out = {"kind": "multi-label", "classes": names, "threshold": cut, "report": report_, "labels": labels}
    out["hamming_loss"] = float(skm.hamming_loss(y, predicted))
    out["subset_accuracy"] = float(skm.accuracy_score(y, predicted))
    aucs = [v["roc_auc"] for v in labels.values()]
    out["roc_auc_macro"] = float(np.mean(aucs)) if None not in aucs else None
    if out["roc_auc_macro"] is None:
        missing = ", ".join(label for label, v in labels.items() if v["roc_auc"] is None)
        out["roc_auc_note"] = f"undefined: label(s) {missing} are all 0 or all 1 in this split"
    out["summary"] = {
        "micro_f1": report_["micro avg"]["f1-score"],
        "macro_f1": report_["macro avg"]["f1-score"],
        "samples_f1": report_["samples avg"]["f1-score"],
        "subset_accuracy": out["subset_accuracy"],
        "hamming_loss": out["hamming_loss"],
        "roc_auc_macro": out["roc_auc_macro"],
    }
    both = {label: (y[:, i], scores[:, i]) for i, label in enumerate(names) if len(np.unique(y[:, i])) == 2}
    if both:
        _curve_figures(report, name, both, title)
    return out


def _samples_average(y: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Per-sample precision, recall and F1, averaged: a sample with no label, predicted with none, is
    right (1 each); any other empty side scores 0. scikit-learn's `zero_division` sets every undefined
    case alike: 0 marks the empty-empty sample wrong, 1 gives a sample predicted with nothing precision 1."""
    hit = (y & predicted).sum(axis=1).astype("float64")
    true, said = y.sum(axis=1), predicted.sum(axis=1)
    empty = (true == 0) & (said == 0)
    precision = np.where(empty, 1.0, np.divide(hit, said, out=np.zeros_like(hit), where=said > 0))
    recall = np.where(empty, 1.0, np.divide(hit, true, out=np.zeros_like(hit), where=true > 0))
    f1 = np.where(empty, 1.0, np.divide(2 * hit, true + said, out=np.zeros_like(hit), where=true + said > 0))
    return {"precision": float(precision.mean()), "recall": float(recall.mean()), "f1-score": float(f1.mean())}


def _categorical(probs, y, names, report: Report, name: str, title: str) -> dict:
    from sklearn import metrics as skm

    labels = list(range(len(names)))
    out = {"kind": "classification", "classes": names, **_table(y, probs.argmax(axis=1), labels, names)}
    present = np.unique(y)
    normalised = probs / np.clip(probs.sum(axis=1, keepdims=True), 1e-12, None)
    if len(present) == len(labels) == 2:  # two softmax units: scikit-learn scores the second class's probability
        out["roc_auc_ovr_macro"] = out["roc_auc_ovr_weighted"] = float(skm.roc_auc_score(y, normalised[:, 1]))
    elif len(present) == len(labels):
        for average in ("macro", "weighted"):
            out[f"roc_auc_ovr_{average}"] = float(
                skm.roc_auc_score(y, normalised, multi_class="ovr", average=average, labels=labels)
            )
    else:
        out["roc_auc_ovr_macro"] = out["roc_auc_ovr_weighted"] = None
        missing = ", ".join(names[i] for i in labels if i not in set(present.tolist()))
        out["roc_auc_note"] = f"undefined: class(es) {missing} never occur in this split"
    out["log_loss"] = float(skm.log_loss(y, normalised, labels=labels))
    out["summary"] = {
        "accuracy": out["report"]["accuracy"],
        "macro_f1": out["report"]["macro avg"]["f1-score"],
        "weighted_f1": out["report"]["weighted avg"]["f1-score"],
        "roc_auc_ovr_macro": out["roc_auc_ovr_macro"],
        "roc_auc_ovr_weighted": out["roc_auc_ovr_weighted"],
        "log_loss": out["log_loss"],
    }
    _confusion_figure(report, name, out, title)
    drawn = [i for i in present.tolist() if (y == i).sum() < len(y)]  # a curve needs samples of the class and not
    if drawn:
        _curve_figures(report, name, {names[i]: (y == i, probs[:, i]) for i in drawn}, title)
    return out


def _table(y, predicted, labels, names) -> dict:
    from sklearn import metrics as skm

    return {
        "report": skm.classification_report(
            y, predicted, labels=labels, target_names=names, output_dict=True, zero_division=0
        ),
        "confusion_matrix": skm.confusion_matrix(y, predicted, labels=labels).tolist(),
    }


def _regression(pre, spec, values, truth, report: Report, title: str) -> dict:
    from sklearn import metrics as skm

    predicted = pre.inverse_targets(values, spec.name).astype("float64").reshape(len(values), -1)
    true = pre.inverse_targets(truth, spec.name).astype("float64").reshape(len(truth), -1)
    count = predicted.shape[1]
    columns = pre.target_columns(spec.name, count)
    if count > 1 and columns is None:  # a sequence, an image: every value is one prediction
        out = {
            "kind": "elements",
            "values_per_sample": int(count),
            "mse": float(np.mean((predicted - true) ** 2)),
            "mae": float(np.mean(np.abs(predicted - true))),
        }
        out["summary"] = {"mse": out["mse"], "mae": out["mae"]}
        return out
    if count == 1:
        out = {"kind": "regression", **_errors(true[:, 0], predicted[:, 0])}
        out["summary"] = {k: out[k] for k in ("mae", "rmse", "r2", "mape")}
        _regression_figures(report, spec.name, title, true[:, 0], predicted[:, 0])
        return out
    # several target columns, each in its own units: judged one by one, then pooled as before
    out = {"kind": "regression", "columns": {}}
    out["summary"] = {}
    for i, column in enumerate(columns):
        errors = out["columns"][column] = _errors(true[:, i], predicted[:, i])
        out["summary"].update({f"{column}_{k}": errors[k] for k in ("mae", "rmse", "r2")})
        if i < DRAWN_COLUMNS:
            t, p = true[:, i], predicted[:, i]
            _regression_figures(report, f"{spec.name}-{_safe(column)}", f"{title}: {column}", t, p)
    if count > DRAWN_COLUMNS:
        out["figures_note"] = f"figures of the first {DRAWN_COLUMNS} of {count} columns; every column's numbers above"
    out["mse"] = float(np.mean((predicted - true) ** 2))
    out["mae"] = float(np.mean(np.abs(predicted - true)))
    out["r2"] = float(skm.r2_score(true, predicted)) if len(true) > 1 else None  # the columns' mean R²
    out["summary"]["r2"] = out["r2"]
    return out


def _errors(t, p) -> dict:
    """MAE, RMSE, R² and MAPE of one column of numbers."""
    from sklearn import metrics as skm

    out = {
        "mae": float(skm.mean_absolute_error(t, p)),
        "rmse": float(np.sqrt(skm.mean_squared_error(t, p))),
        "r2": float(skm.r2_score(t, p)) if len(t) > 1 else None,
        "mape": float(skm.mean_absolute_percentage_error(t, p)) if np.all(t != 0) else None,
    }
    if out["mape"] is None:
        out["mape_note"] = "undefined: some actual values are 0"
    return out


def _regression_figures(report: Report, stem: str, title: str, t, p) -> None:
    report.figures.append((f"{stem}-predicted-vs-actual.png", _titled(evalplots.predicted_vs_actual, title), (t, p)))
    report.figures.append((f"{stem}-residuals.png", _titled(evalplots.residuals, title), (t, p)))


def _soft(pre, spec, probs, truth, report: Report, title: str) -> dict:
    """Soft targets are probabilities, not classes: how far the predicted ones are from them, and the
    cross-entropy the loss minimises (per value for a sigmoid, per row for a softmax)."""
    from sklearn import metrics as skm

    p = np.asarray(probs, dtype="float64").reshape(len(probs), -1)
    t = np.asarray(truth, dtype="float64").reshape(len(truth), -1)
    eps = np.finfo("float64").eps
    if spec.kind == "binary":
        clipped = np.clip(p, eps, 1 - eps)
        cross_entropy = -np.mean(t * np.log(clipped) + (1 - t) * np.log(1 - clipped))
    else:
        units = np.shape(probs)[-1]
        rows = p.reshape(-1, units) / np.clip(p.reshape(-1, units).sum(axis=1, keepdims=True), eps, None)
        cross_entropy = -np.mean(np.sum(t.reshape(-1, units) * np.log(np.clip(rows, eps, 1)), axis=1))
    out = {
        "kind": "soft",
        "values_per_sample": int(p.shape[1]),
        "mae": float(np.mean(np.abs(p - t))),
        "rmse": float(np.sqrt(np.mean((p - t) ** 2))),
        "r2": float(skm.r2_score(t, p)) if len(t) > 1 else None,
        "cross_entropy": float(cross_entropy),
    }
    out["summary"] = {k: out[k] for k in ("mae", "rmse", "r2", "cross_entropy")}
    if p.shape[1] == 1:
        _regression_figures(report, spec.name, title, t[:, 0], p[:, 0])
    return out


# --- pieces ---------------------------------------------------------------------------------


def probabilities(values, spec) -> np.ndarray:
    """What an output's units mean as probabilities: as they are, or through sigmoid / softmax when
    its loss takes logits (`from_logits: true`)."""
    values = np.asarray(values, dtype="float64")
    if not (isinstance(spec.loss, dict) and spec.loss.get("from_logits")):
        return values
    if spec.kind == "binary":
        return 1 / (1 + np.exp(-values))
    shifted = np.exp(values - values.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def _confusion_figure(report: Report, name: str, out: dict, title: str) -> None:
    matrix = np.asarray(out["confusion_matrix"])
    report.figures.append((f"{name}-confusion.png", _titled(evalplots.confusion, title), (matrix, out["classes"])))


def _curve_figures(report: Report, name: str, lines: dict[str, tuple], title: str) -> None:
    from sklearn import metrics as skm

    roc, pr = {}, {}
    for label, (y, scores) in lines.items():
        fpr, tpr, _ = skm.roc_curve(y, scores)
        precision, recall, _ = skm.precision_recall_curve(y, scores)
        roc[label] = (fpr, tpr, float(skm.auc(fpr, tpr)))
        pr[label] = (recall, precision, float(skm.average_precision_score(y, scores)))
    report.figures.append((f"{name}-roc.png", _titled(evalplots.curves, title), ("roc", roc)))
    report.figures.append((f"{name}-pr.png", _titled(evalplots.curves, title), ("pr", pr)))


def _titled(draw, title: str):
    def drawn(*args: Any) -> Path:
        return draw(*args, title)

    return drawn


def _safe(name: str) -> str:
    """A name as a file name's part."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "_"


def _folder(split: str, input: Path | None) -> str:
    """plots/eval/<this>/: the split's name, or `input-<file stem>`."""
    if input is None:
        return split
    return "input-" + (_safe(Path(input).stem) if Path(input).stem else "file")
