"""`TrialReport`: a sweep trial's per-epoch metric, handed to Optuna; its pruner may stop the run.

The sweep driver adds it after dlcli's own callbacks, so the epoch's resume state is saved
before a pruned run stops. A pruned run stops as an EarlyStopping would: its model, final
metrics and plots are written, so it is an ordinary (short) run that `evaluate` can open; the
study records it as pruned.
"""

from __future__ import annotations

import math
import warnings

import keras

from dlcli.errors import ConfigError, Problem, did_you_mean


class TrialReport(keras.callbacks.Callback):
    def __init__(self, trial, monitor: str, key: str = "--metric"):
        super().__init__()
        self.trial, self.monitor, self.key = trial, monitor, key  # key: where the metric was named
        self.pruned_at: int | None = None

    def check_logs(self, logged: set[str], validation: bool, test: bool) -> None:
        """Refuse a --metric the runs will not log before the first trial trains, not after its first
        epoch. `logged`: the names one evaluated batch logs; `test_` names are scored after training."""
        split, _, name = self.monitor.partition("_")
        if split not in ("val", "test"):
            split, name = "train", self.monitor
        held = {"val": validation, "test": test}.get(split, True)
        if name in logged and held:
            return
        if name in logged:
            option = "data.val_split" if split == "val" else "data.test_split (and train.evaluate_test=true)"
            hint = f"choose {name!r}, or hold out data with {option}"
            what = "a validation split" if split == "val" else "a test split scored at the end"
            raise ConfigError(Problem(self.key, f"{self.monitor!r} needs {what}, and the runs have none", hint))
        names = sorted(logged) + sorted(f"val_{k}" for k in logged if validation)
        if split == "test" and test:  # scored on the test split once training ends
            names += sorted(f"test_{k}" for k in logged)
        listing = "the runs log: " + ", ".join(names)
        hint = did_you_mean(self.monitor, names)
        raise ConfigError(
            Problem(self.key, f"the runs do not log {self.monitor!r}", f"{hint} {listing}" if hint else listing)
        )

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.monitor.startswith("test_"):  # known once training ends: the trial is scored then, never pruned
            return
        if self.monitor not in logs:
            names = ", ".join(k for k in logs if k != "learning_rate")
            raise ConfigError(
                Problem(self.key, f"the runs do not log {self.monitor!r}", f"choose one they log: {names}")
            )
        value = float(logs[self.monitor])
        if not math.isfinite(value):
            return  # the run fails on it (StopOnNaN); a pruner would only be confused
        with warnings.catch_warnings():  # a resumed trial reports its first epochs again; Optuna keeps the first
            warnings.simplefilter("ignore")
            self.trial.report(value, epoch + 1)
        if self.trial.should_prune():
            self.pruned_at = epoch + 1
            self.model.stop_training = True
