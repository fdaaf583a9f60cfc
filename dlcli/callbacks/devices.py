"""Callbacks for runs on several devices (keras.distribution)."""

from __future__ import annotations

import keras


class ValidateOnOneDevice(keras.callbacks.Callback):
    """`fit`'s validation on one device, for a val split whose last batch does not divide by the
    devices: Keras' data-parallel evaluate stops there (keras-team/keras#21167), and evaluation
    may drop no sample. Training goes back to every device when validation ends."""

    def on_test_begin(self, logs=None):
        self._distribution = keras.distribution.distribution()
        keras.distribution.set_distribution(None)

    def on_test_end(self, logs=None):
        keras.distribution.set_distribution(self._distribution)
