"""The hand-written Keras script dlcli is measured against: load the data, build the
network, `compile`, `fit`, as the Keras guides write it.

The network is the recipe's own (read from the warm-up run's model.keras and re-initialised
with `keras.models.clone_model`, so both sides train the same layers from fresh weights); the
data, batch size, epochs and seed are the ones dlcli is given. Writes each epoch's time and
the model's training FLOPs per sample to TIMES.json.

usage: python bench/plain_keras.py MODEL.keras DATA.npz BATCH EPOCHS SEED TIMES.json
"""

import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.flops import training_flops  # noqa: E402
from bench.timing import EpochTimer  # noqa: E402

model_path, data_path, batch, epochs, seed, times_path = sys.argv[1:]
keras.utils.set_random_seed(int(seed))
with np.load(data_path) as f:
    x, y = f["x"], keras.utils.to_categorical(f["y"], 10)
model = keras.models.clone_model(keras.saving.load_model(model_path, compile=False))
model.compile(optimizer=keras.optimizers.Adam(0.001), loss="categorical_crossentropy", metrics=["accuracy"])
timer = EpochTimer(times_path)
model.fit(x, y, batch_size=int(batch), epochs=int(epochs), verbose=0, callbacks=[timer])
with open(times_path) as f:
    epochs_seconds = json.load(f)
with open(times_path, "w") as f:
    json.dump({"epochs": epochs_seconds, "flops_per_sample": training_flops(model)}, f)
