"""Multi-input, multi-output models: per-output losses land on the right outputs, and a
trained model reloads in a fresh process (safe mode) with the same predictions and losses.

Keras matches dict losses to outputs by key; some releases misaligned them, so
the losses are checked by value against numpy, with a different loss per output.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.slow

RELOAD = r"""
import json, sys
import numpy as np
import keras
model = keras.saving.load_model(sys.argv[1], safe_mode=True)
with np.load(sys.argv[2]) as data:
    x = {k[2:]: data[k] for k in data.files if k.startswith("x_")}
    y = {k[2:]: data[k] for k in data.files if k.startswith("y_")}
np.savez(sys.argv[3], **{k: np.asarray(v) for k, v in model.predict(x, verbose=0).items()})
print(json.dumps(model.evaluate(x, y, verbose=0, return_dict=True)))
"""


def build(recipe, overrides=(), samples=8):
    from dlcli import lifecycle
    from dlcli.data.sources import synthetic

    built = lifecycle.build(lifecycle.prepare(recipe, list(overrides)))
    data = built.prepared.cfg.data.copy()
    data.samples = samples
    raw = synthetic(data, built.io, seed=1)
    return built.model, raw.x, raw.y


def bce(y, p):
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p))))


def test_each_output_gets_its_own_loss_and_weight():
    tiny = [f"model.nodes.conv{i}.filters=4" for i in range(1, 6)]
    model, x, y = build(
        "social_multi_output",
        [
            "model.nodes.embedded_posts.input_dim=50",
            "model.nodes.embedded_posts.output_dim=8",
            "data.sequence_length=300",
            *tiny,
        ],
    )
    p = model.predict(x, verbose=0)
    expected = {
        "age_loss": float(np.mean((p["age"] - y["age"]) ** 2)),
        "income_loss": float(np.mean(-np.sum(y["income"] * np.log(np.clip(p["income"], 1e-7, 1)), axis=1))),
        "gender_loss": bce(y["gender"], p["gender"]),
    }
    expected["loss"] = 0.25 * expected["age_loss"] + 1.0 * expected["income_loss"] + 10.0 * expected["gender_loss"]
    got = model.evaluate(x, y, verbose=0, return_dict=True)
    assert {k: got[k] for k in expected} == pytest.approx(expected, rel=1e-4)


def test_a_single_outputs_loss_weight_scales_its_loss():
    model, x, y = build("keras_intro", ["+model.outputs.predictions.loss_weight=0.5"])
    x, y = x["input"], y["predictions"]
    p = np.clip(model.predict(x, verbose=0), 1e-7, 1)
    cce = float(np.mean(-np.sum(y * np.log(p), axis=1)))
    assert model.evaluate(x, y, verbose=0, return_dict=True)["loss"] == pytest.approx(0.5 * cce, rel=1e-4)


def test_news_model_reloads_in_a_fresh_process(tmp_path):
    model, x, y = build("news_main_aux")
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)  # trained weights and optimizer state
    before = model.predict(x, verbose=0)
    evaluated = model.evaluate(x, y, verbose=0, return_dict=True)
    assert evaluated["loss"] == pytest.approx(
        bce(y["main_output"], before["main_output"]) + 0.2 * bce(y["aux_output"], before["aux_output"]), rel=1e-4
    )

    model.save(tmp_path / "model.keras")
    np.savez(tmp_path / "data.npz", **{f"x_{k}": v for k, v in x.items()}, **{f"y_{k}": v for k, v in y.items()})
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    proc = subprocess.run(
        [sys.executable, "-c", RELOAD, str(tmp_path / "model.keras"), str(tmp_path / "data.npz"), str(tmp_path / "pred.npz")],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    with np.load(tmp_path / "pred.npz") as after:
        assert sorted(after.files) == ["aux_output", "main_output"]
        for name in after.files:
            np.testing.assert_allclose(after[name], before[name], rtol=1e-5, atol=1e-6)
    reloaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert reloaded == pytest.approx(evaluated, rel=1e-5)
