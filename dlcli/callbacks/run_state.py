"""RunState: the callback that makes `dlcli train --resume RUN` end where the uninterrupted run would have.

Every epoch end it saves a snapshot (dlcli/runs/snapshot.py): the model's
variables (dropout seed states included) and the optimizer's (step count,
moments, learning rate), the epoch count, whether a callback stopped
training, the state of each stateful callback (EarlyStopping,
ModelCheckpoint and ReduceLROnPlateau's best and wait; dlcli's history rows
and best weights; anything with `get_state`/`set_state`), and the NumPy and
Python RNG states that decide the next epoch's data order. It is Keras'
`BackupAndRestore` (restore at train begin, save at epoch end,
`model._initial_epoch` for `fit`) with a complete snapshot in place of
Keras' weights file, which has no RNG or callback state and can be torn by a
kill in mid-write. The snapshot's arrays are copied to host memory at epoch end;
writing them to disk happens on a thread while the next epoch trains.
"""

from __future__ import annotations

import csv
import io
import random
from pathlib import Path
from typing import Any

import keras
import numpy as np

from dlcli import interrupt
from dlcli.errors import ConfigError, Problem
from dlcli.runs import rundir, snapshot


def _keras_state() -> dict[type, tuple[str, ...]]:
    return {
        keras.callbacks.EarlyStopping: ("wait", "stopped_epoch", "best", "best_weights", "best_epoch"),
        keras.callbacks.ReduceLROnPlateau: ("wait", "best", "cooldown_counter"),
        keras.callbacks.ModelCheckpoint: ("best",),
    }


def callback_state(callback) -> dict | None:
    if hasattr(callback, "get_state"):
        return callback.get_state()
    for cls, attributes in _keras_state().items():
        if isinstance(callback, cls):
            return {a: getattr(callback, a, None) for a in attributes}
    return None


def set_callback_state(callback, state: dict) -> None:
    if hasattr(callback, "set_state"):
        callback.set_state(state)
    else:
        for attribute, value in state.items():
            setattr(callback, attribute, value)


def _continue_files(callback, epoch: int) -> None:
    """Before `fit`: callbacks that write files continue them rather than start them over."""
    if hasattr(callback, "resumed"):
        callback.resumed(epoch)
    elif isinstance(callback, keras.callbacks.CSVLogger):
        callback.append = True
        _truncate_csv(Path(callback.filename), epoch, callback.sep)


def _truncate_csv(path: Path, epoch: int, sep: str) -> None:
    """Keep CSVLogger's rows of the epochs the snapshot holds (its `epoch` column counts from 0)."""
    if not path.is_file():
        return
    rows = list(csv.reader(io.StringIO(path.read_text()), delimiter=sep))
    kept = rows[:1] + [r for r in rows[1:] if r and int(r[0]) < epoch]
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=sep).writerows(kept)
    rundir.write_text(path, buffer.getvalue())


class RunState(keras.callbacks.BackupAndRestore):
    """Saves the run's whole state each epoch and restores it when a run is resumed.

    It must come after every callback whose state it saves: its
    `on_train_begin` restores them after they reset themselves, and its
    `on_epoch_end` saves them after they have seen the epoch.
    """

    # Its batch hook does nothing at save_freq="epoch": Keras need not wait for each step.
    async_safe = True

    def __init__(self, run_dir: Path, tracked: dict[str, Any]):
        super().__init__(backup_dir=str(Path(run_dir) / snapshot.STATE_DIR), save_freq="epoch", delete_checkpoint=False)
        self.tracked = tracked
        self.writer = snapshot.Writer()
        self.saved = snapshot.read_snapshot(run_dir)
        self.epochs_done = self.saved[0]["epoch"] if self.saved else 0
        if self.saved:
            for callback in tracked.values():
                _continue_files(callback, self.epochs_done)

    def _load_model(self):
        if self.saved is None:
            return
        meta, arrays = self.saved
        variables = _variables(self.model)
        shapes = [tuple(v.shape) for v in variables]
        saved_shapes = [tuple(arrays[f"var/{i}"].shape) for i in range(meta["variables"])]
        if shapes != saved_shapes:
            raise ConfigError(
                Problem(
                    "RUN",
                    f"the saved state in {self.backup_dir} does not fit this model ({len(saved_shapes)} variables saved, {len(shapes)} in the model)",
                    "resume with the run's own config, or start a new run",
                )
            )
        for i, variable in enumerate(variables):
            variable.assign(arrays[f"var/{i}"])
        for name, callback in self.tracked.items():
            saved = meta["callbacks"].get(name)
            if saved is not None and saved["class"] == type(callback).__name__:
                set_callback_state(callback, snapshot.unpack(saved["state"], arrays))
        numpy_rng = meta["rng"]["numpy"]
        np.random.set_state((numpy_rng[0], arrays["rng/numpy"], *numpy_rng[1:]))
        version, internal, gauss = meta["rng"]["python"]
        random.setstate((version, tuple(internal), gauss))
        # What BackupAndRestore tells fit. A run stopped by a callback (and killed before
        # it saved its model) trains no further: fit only finishes it.
        stopper = any(isinstance(c, keras.callbacks.EarlyStopping) for c in self.tracked.values())
        self.model._initial_epoch = self.params["epochs"] if meta["stopped"] and stopper else self.epochs_done

    def on_epoch_begin(self, epoch, logs=None):
        interrupt.check()  # a Ctrl-C swallowed while starting up stops the run here
        super().on_epoch_begin(epoch, logs)

    def on_train_end(self, logs=None):
        self.flush()
        super().on_train_end(logs)

    def flush(self) -> None:
        """Wait for the last snapshot to be on disk (`epochs_done` is then saved)."""
        self.writer.wait()

    def _save_model(self):
        self.epochs_done = self._current_epoch
        arrays: dict[str, np.ndarray] = {}
        variables = _variables(self.model)
        for i, variable in enumerate(variables):
            arrays[f"var/{i}"] = variable.numpy()  # a copy: the next epoch's steps reuse the variables' buffers
        kind, keys, *rest = np.random.get_state()
        arrays["rng/numpy"] = keys
        version, internal, gauss = random.getstate()
        meta = {
            "epoch": self.epochs_done,
            "stopped": bool(self.model.stop_training),
            "variables": len(variables),
            "paths": [v.path for v in variables],
            "rng": {"numpy": [kind, *rest], "python": [version, list(internal), gauss]},
            "callbacks": {},
        }
        for name, callback in self.tracked.items():
            state = callback_state(callback)
            if state is not None:
                meta["callbacks"][name] = {
                    "class": type(callback).__name__,
                    "state": snapshot.pack(state, f"cb/{name}", arrays),
                }
        self.writer.write(Path(self.backup_dir), meta, arrays)


def _variables(model) -> list:
    return [*model.trainable_variables, *model.non_trainable_variables, *model.optimizer.variables]
