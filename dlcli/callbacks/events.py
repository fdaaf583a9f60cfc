"""Keras' training events, handed to the run's observer (dlcli.lifecycle.Observer).

The library never prints: the command layer's observer renders what this
callback reports. Batch events are forwarded only to an observer that asks for
them (`batches = True`), and with the logs unread: reading a metric makes JAX finish the step, so the observer
decides when (see bench/).
"""

from __future__ import annotations

import time

import keras


class Events(keras.callbacks.Callback):
    # Keras may then call the batch hook from a worker thread, so the training loop never waits for the display.
    async_safe = True

    def __init__(self, observer):
        super().__init__()
        self.observer = observer
        self.batches = getattr(observer, "batches", False)

    def on_train_begin(self, logs=None):
        self.observer.train_begin(self.params.get("epochs", 1), self.params.get("steps"))

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.monotonic()
        self.observer.epoch_begin(epoch + 1)

    def on_train_batch_end(self, batch, logs=None):
        if self.batches:
            self.observer.batch_end(batch + 1, logs or {})

    def on_epoch_end(self, epoch, logs=None):
        self.observer.epoch_end(epoch + 1, time.monotonic() - self._started, logs or {})

    def on_train_end(self, logs=None):
        self.observer.train_end()
