"""ROC AUC on the training and validation data after every epoch (seed 001's RocAUCScore).

The scores go into the epoch's logs as `roc_auc` and `val_roc_auc`, so
EarlyStopping, ModelCheckpoint and history.csv see them like any metric;
`from_config` runs this callback before the ones that monitor it.
"""

from __future__ import annotations

import keras
import numpy as np

from dlcli.errors import ConfigError, Problem, did_you_mean


@keras.saving.register_keras_serializable(package="dlcli")
class RocAucScore(keras.callbacks.Callback):
    adds_logs = True

    def __init__(self, output: str | None = None, name: str = "roc_auc"):
        super().__init__()
        self.output, self.name = output, name
        self.splits: dict[str, object] = {}

    def logs_added(self) -> list[str]:
        return [self.name]  # and its val_ twin, where there is validation data

    def get_config(self) -> dict:
        return {"output": self.output, "name": self.name}

    def attach(self, run) -> None:
        names = list(run.model.output_names)
        if self.output is None and len(names) > 1:
            raise ConfigError(
                Problem(
                    "output",
                    f"the model has {len(names)} outputs; say which one to score",
                    f"outputs: {', '.join(names)}",
                )
            )
        if self.output is not None and self.output not in names:
            raise ConfigError(
                Problem(
                    "output",
                    f"no output {self.output!r}",
                    did_you_mean(self.output, names) or f"outputs: {', '.join(names)}",
                )
            )
        self.splits = {"": run.train, **({"val_": run.val} if run.val is not None else {})}
        self.batch_size = run.batch_size

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        for prefix, split in self.splits.items():
            logs[prefix + self.name] = self.score(split.x, split.y)

    def score(self, x, y) -> float:
        """scikit-learn's roc_auc_score of the model's predictions for `x` against `y`."""
        from sklearn.metrics import roc_auc_score

        predicted = self.model.predict(x, batch_size=self.batch_size, verbose=0)
        predicted, y = self._pick(predicted), self._pick(y)
        predicted, y = np.asarray(predicted), np.asarray(y)
        if predicted.ndim == 1 or predicted.shape[-1] == 1:  # binary: one probability per sample
            return float(roc_auc_score(y.reshape(-1), predicted.reshape(-1)))
        if y.ndim == 1 or y.shape[-1] == 1:  # class ids against softmax scores
            return float(roc_auc_score(y.reshape(-1), predicted, multi_class="ovr"))
        return float(roc_auc_score(y, predicted))  # one-hot or multi-label: macro average over classes

    def _pick(self, value):
        if isinstance(value, dict):
            return value[self.output] if self.output is not None else next(iter(value.values()))
        if isinstance(value, (list, tuple)):
            return value[list(self.model.output_names).index(self.output)] if self.output is not None else value[0]
        return value
