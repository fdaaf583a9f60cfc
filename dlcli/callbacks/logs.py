"""Keras-2 metric names (`acc`, `val_acc`, `lr`) for the callbacks that ask for them.

Keras 3 logs `accuracy` when a model is compiled with `metrics: [accuracy]`, so
seed 001's `ModelCheckpoint("model-weights.{epoch:02d}-{val_acc:.6f}", monitor=
"val_acc")` would find no `val_acc`. `LogAliases` adds the names that users'
callbacks monitor or put in file templates to each epoch's logs before those
callbacks run; its `remover` takes them out again before dlcli's bookkeeping,
so history.csv and metrics.json keep one column per metric.
"""

from __future__ import annotations

import math
import string

import keras

from dlcli.errors import Collector, did_you_mean

# (name a callback may ask for, name Keras 3 may log instead)
_SWAPS = (("acc", "accuracy"), ("accuracy", "acc"), ("lr", "learning_rate"), ("learning_rate", "lr"))
# Metrics whose better direction Keras cannot always infer from a monitor's name.
_MAXIMIZED = ("acc", "accuracy", "roc_auc")


def wanted(callbacks) -> set[str]:
    """Log names that callbacks read: their `monitor`, and the fields of a `filepath` template."""
    names = set()
    for callback in callbacks:
        monitor = getattr(callback, "monitor", None)
        if isinstance(monitor, str):
            names.add(monitor)
        template = getattr(callback, "filepath", None)
        if isinstance(template, str):
            try:
                fields = [f for _, f, _, _ in string.Formatter().parse(template) if f]
            except ValueError:  # not a template; Keras reports a bad one itself
                fields = []
            names.update(f.split(".")[0].split("[")[0] for f in fields)
    return names - {"epoch", "batch"}


def check_available(callbacks: dict, logged: set[str], validation: bool) -> None:
    """Every name a user's callback monitors or templates is one the run will log.

    `logged` is what evaluating one batch gave (loss and metrics); validation
    adds their `val_` twins, callbacks with `adds_logs` their own names, and the
    learning-rate callbacks `learning_rate`. Without this a typo such as
    `val_los` fails after the first epoch, or silently does nothing.
    """
    available = set(logged)
    for callback in callbacks.values():
        available |= set(getattr(callback, "logs_added", lambda: ())())
    if validation:
        available |= {f"val_{k}" for k in available}
    available |= {"learning_rate", "lr"}
    problems = Collector()
    for name, callback in callbacks.items():
        for asked, key in [(n, "monitor") for n in wanted([callback]) if n == getattr(callback, "monitor", None)] + [
            (n, "filepath") for n in wanted([callback]) if n != getattr(callback, "monitor", None)
        ]:
            if asked in available or alias(asked, available):
                continue
            where = f"callbacks.{name}.{key}"
            if asked.startswith("val_") and not validation and (asked[4:] in available or alias(asked[4:], available)):
                problems.add(
                    where,
                    f"{asked!r} needs a validation split, and this run has none",
                    f"monitor {asked[4:]!r}, or hold out data with data.val_split",
                )
            else:
                hint = did_you_mean(asked, sorted(available))
                listing = "the run logs: " + ", ".join(sorted(k for k in available if k != "lr"))
                problems.add(where, f"the run logs no {asked!r}", f"{hint} {listing}" if hint else listing)
    problems.raise_if_any()


def _ends_with(name: str, suffix: str) -> bool:
    return name == suffix or name.endswith("_" + suffix)


def alias(name: str, logs: dict) -> str | None:
    """The logged key that `name` means, or None."""
    for asked, logged in _SWAPS:
        if _ends_with(name, asked):
            candidate = name[: len(name) - len(asked)] + logged
            if candidate in logs:
                return candidate
    return None


def mode_for(monitor: str) -> str | None:
    """'max' for accuracy-like names Keras' mode='auto' may not recognise (acc, roc_auc)."""
    return "max" if any(_ends_with(monitor, m) for m in _MAXIMIZED) else None


class LogAliases(keras.callbacks.Callback):
    def __init__(self, names: set[str]):
        super().__init__()
        self.names = sorted(names)
        self.added: list[str] = []
        self.remover = _DropAliases(self)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        self.added = []
        for name in self.names:
            source = None if name in logs else alias(name, logs)
            if source is not None:
                logs[name] = logs[source]
                self.added.append(name)


class _DropAliases(keras.callbacks.Callback):
    def __init__(self, adder: LogAliases):
        super().__init__()
        self.adder = adder

    def on_epoch_end(self, epoch, logs=None):
        for name in self.adder.added:
            (logs or {}).pop(name, None)


class StopOnNaN(keras.callbacks.Callback):
    """Stops after an epoch whose loss is NaN or infinite.

    Keras' TerminateOnNaN checks every batch, which makes each training step
    wait for the one before; dlcli's default checks once per epoch (users who
    want the per-batch check can still list TerminateOnNaN).
    """

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.model.stop_training = True
