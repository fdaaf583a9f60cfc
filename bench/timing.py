"""A callback that records wall-clock time per epoch, for the benchmark.

Epoch k's time is measured from its start to the start of epoch k+1 (the last
one to the end of training), so whatever runs between epochs — the resume
snapshot, history files, progress display — is counted, as a user would feel it.
The last one also holds what runs at the end of training before this callback
(dlcli's checkpoints), so bench/run.py leaves it out of the steady epoch.
Loaded into dlcli as a plugin (`plugins=[bench.timing]`), and imported by the
plain Keras script, so both sides use the same clock.
"""

import json
import time

import keras


@keras.saving.register_keras_serializable(package="bench")
class EpochTimer(keras.callbacks.Callback):
    def __init__(self, path):
        super().__init__()
        self.path = path
        self.marks = []

    def get_config(self):
        return {"path": self.path}

    def on_epoch_begin(self, epoch, logs=None):
        self.marks.append(time.perf_counter())

    def on_train_end(self, logs=None):
        self.marks.append(time.perf_counter())
        with open(self.path, "w") as f:
            json.dump([b - a for a, b in zip(self.marks, self.marks[1:])], f)
