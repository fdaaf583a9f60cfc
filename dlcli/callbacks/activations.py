"""Activations of every layer for the first validation sample, saved each epoch (seed 000's ActivationLogger).

Seed 000 reads `self.validation_data`, which Keras 3 callbacks no longer have:
the run hands the validation split over through `attach`. Each epoch writes
`<log_dir>/epoch-NNN.npz` (one array per layer call, keyed by layer name; a
shared layer called twice gives `name`, `name_call1`, ...).
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from dlcli.errors import ConfigError, Problem
from dlcli.runs.rundir import atomic_write


@keras.saving.register_keras_serializable(package="dlcli")
class ActivationLogger(keras.callbacks.Callback):
    def __init__(self, log_dir: str = "activations", freq: int = 1):
        super().__init__()
        self.log_dir, self.freq = Path(log_dir), int(freq)
        self.sample = None
        self._probe = None

    def get_config(self) -> dict:
        return {"log_dir": str(self.log_dir), "freq": self.freq}

    def attach(self, run) -> None:
        if run.val is None:
            raise ConfigError(
                Problem(
                    "",
                    "ActivationLogger records the first validation sample, and the run has no validation data",
                    "set data.val_split above 0 (or give data.val_path)",
                )
            )
        x = run.val.x
        self.sample = {k: v[:1] for k, v in x.items()} if isinstance(x, dict) else x[:1]

    def on_train_begin(self, logs=None):
        self._probe = keras.Model(self.model.input, _layer_outputs(self.model))

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.freq:
            return
        activations = self._probe.predict(self.sample, verbose=0)
        with atomic_write(self.log_dir / f"epoch-{epoch + 1:03d}.npz") as tmp, open(tmp, "wb") as f:
            np.savez(f, **{k: np.asarray(v) for k, v in activations.items()})


def _layer_outputs(model) -> dict:
    """Output tensor of every call of every layer inside `model` (not calls made in other models)."""
    from keras.src.ops.function import make_node_key  # which of a shared layer's calls belong to this model

    outputs = {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        calls = [node for i, node in enumerate(layer._inbound_nodes) if make_node_key(layer, i) in model._nodes]
        for n, node in enumerate(calls):
            tensors = node.output_tensors
            key = layer.name if n == 0 else f"{layer.name}_call{n}"
            if len(tensors) == 1:
                outputs[key] = tensors[0]
            else:
                outputs.update({f"{key}_out{j}": t for j, t in enumerate(tensors)})
    return outputs
