"""The hand-written Keras script dlcli is measured against: seed 001's MNIST
network with dropout, same data, split sizes, batch size and seed as
`dlcli train recipe=mnist_dropout`.

usage: python bench/plain_keras.py EPOCHS TIMES.json
"""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.timing import EpochTimer  # noqa: E402

epochs, times_path = int(sys.argv[1]), sys.argv[2]
keras.utils.set_random_seed(42)

# The same data dlcli falls back to offline: the shipped 5,000-sample MNIST subset.
with np.load(os.path.join(os.path.dirname(__file__), "..", "dlcli", "data", "assets", "mnist_5k.npz")) as f:
    x, y = f["x"].reshape(-1, 784).astype("float32") / 255, keras.utils.to_categorical(f["y"], 10)
x, x_test, y, y_test = train_test_split(x, y, test_size=0.2, random_state=42, stratify=y.argmax(1))
x, x_val, y, y_val = train_test_split(x, y, test_size=0.1, random_state=43, stratify=y.argmax(1))

inputs = keras.Input(shape=(784,), name="input")
h = keras.layers.Dense(512, activation="relu", name="hidden1")(inputs)
h = keras.layers.Dropout(0.5)(h)
h = keras.layers.Dense(256, activation="relu", name="hidden2")(h)
h = keras.layers.Dropout(0.5)(h)
h = keras.layers.Dense(128, activation="relu", name="hidden3")(h)
h = keras.layers.Dropout(0.5)(h)
outputs = keras.layers.Dense(10, activation="softmax", name="output")(h)
model = keras.Model(inputs, outputs)
model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
model.fit(
    x, y, batch_size=30, epochs=epochs, validation_data=(x_val, y_val), verbose=0, callbacks=[EpochTimer(times_path)]
)
print(model.evaluate(x_test, y_test, verbose=0))
model.save(os.path.join(os.path.dirname(times_path), "plain.keras"))
