"""What a model can be built from besides plain layers: named regularizers, initializers
and constraints, sub-models called like layers, and a user's plugin module; and `check --plot`."""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

RECIPES = Path(__file__).parent / "recipes"


def test_regularizers_initializers_and_constraints_by_name_or_class(tmp_path):
    import keras

    from dlcli import lifecycle

    overrides = [
        "+model.layers.0.kernel_regularizer={class: L2, l2: 0.01}",
        "+model.layers.0.bias_regularizer=l1",
        "+model.layers.0.kernel_initializer=he_normal",
        "+model.layers.0.kernel_constraint={class: MaxNorm, max_value: 2.0}",
        "+model.layers.2.kernel_initializer={class: Constant, value: 0.5}",
    ]
    model = lifecycle.build(lifecycle.prepare("keras_intro", overrides)).model
    dense, out = model.get_layer("dense"), model.get_layer("dense_1")
    assert isinstance(dense.kernel_regularizer, keras.regularizers.L2) and dense.kernel_regularizer.l2 == pytest.approx(
        0.01
    )
    assert isinstance(dense.bias_regularizer, keras.regularizers.L1)
    assert isinstance(dense.kernel_initializer, keras.initializers.HeNormal)
    assert isinstance(dense.kernel_constraint, keras.constraints.MaxNorm) and dense.kernel_constraint.max_value == 2.0
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(out.kernel), 0.5)
    assert len(model.losses) == 2  # the two regularization penalties
    model.save(tmp_path / "model.keras")
    again = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True).get_layer("dense")
    assert again.kernel_regularizer.l2 == pytest.approx(0.01) and again.kernel_constraint.max_value == 2.0


@pytest.mark.parametrize(
    "factory, kwargs",
    [
        (
            "callbacks.EarlyStopping",
            {"min_delta": 0.01, "patience": 3.0, "baseline": None, "mode": "max"},
        ),  # min_delta's default is 0
        ("constraints.MaxNorm", {"max_value": 2.5, "axis": [0, 1]}),  # default 2; axis an int or a list
        ("layers.Conv1D", {"filters": 4, "kernel_size": 3, "strides": [2], "dilation_rate": 1}),
        ("layers.LayerNormalization", {"axis": None, "epsilon": 1}),  # an int where the default is a float
        ("layers.ZeroPadding1D", {"padding": [1, 2]}),
        ("metrics.BinaryCrossentropy", {"label_smoothing": 0.1}),  # documented as a float, default 0
    ],
)
def test_values_keras_takes_besides_the_kind_of_its_default_are_accepted(factory, kwargs):
    import keras

    from dlcli.errors import Collector
    from dlcli.graph import registry

    module, name = factory.split(".")
    problems = Collector()
    registry.check_kwargs(getattr(getattr(keras, module), name), name, kwargs, "x", problems)
    assert problems.problems == []


def test_values_of_another_kind_than_the_default_are_refused():
    import keras

    from dlcli.errors import Collector
    from dlcli.graph import registry

    problems = Collector()
    registry.check_kwargs(
        keras.callbacks.ReduceLROnPlateau,
        "ReduceLROnPlateau",
        {"patience": 2.5, "cooldown": True, "factor": "0.5", "verbose": 1},
        "cb",
        problems,
    )
    registry.check_kwargs(keras.layers.GRU, "GRU", {"units": 3, "return_sequences": 1}, "node", problems)
    assert [p.render() for p in problems.problems] == [
        "error: cb.factor: expected a number (ReduceLROnPlateau's default is 0.1), got '0.5'",
        "error: cb.patience: expected an integer (ReduceLROnPlateau's default is 10), got 2.5",
        "error: cb.cooldown: expected an integer (ReduceLROnPlateau's default is 0), got True",
        "error: node.return_sequences: expected true or false (GRU's default is false), got 1",
    ]


@pytest.mark.slow
def test_sub_models_are_called_like_layers_and_share_their_weights(cli, in_tmp):
    import keras

    recipe = RECIPES / "shared_submodels.yaml"
    code, out, err = cli("check", f"recipe={recipe}", "--json")
    assert code == 0, err
    layers = {layer["name"]: layer for layer in json.loads(out)["layers"]}
    assert layers["encoder"]["params"] == 6 * 8 + 8 + 2 * (8 * 2 + 2)  # counted once for two calls
    assert layers["encoder"]["inputs"] == ["enc_left: left", "enc_right: right"]
    assert layers["head"]["inputs"] == ["same: diff, spread"]
    assert json.loads(out)["outputs"] == [
        {
            "name": "same",
            "shape": [None, 1],
            "dtype": "float32",
            "loss": "binary_crossentropy",
            "loss_weight": 1.0,
            "metrics": ["accuracy"],
        }
    ]

    code, out, err = cli("-q", "train", f"recipe={recipe}", "--smoke")
    assert code == 0, err
    run_dir = in_tmp / out.strip().splitlines()[-1].removeprefix("run: ")
    model = keras.saving.load_model(run_dir / "model.keras", safe_mode=True)
    x = {"left": np.ones((2, 6), "float32"), "right": np.zeros((2, 6), "float32")}
    np.testing.assert_allclose(
        model.predict(x, verbose=0), keras.saving.load_model(run_dir / "model.keras").predict(x, verbose=0)
    )


PLUGIN = '''
"""A user's own layer, loss and metric, registered so that configs can name them and saved models reload."""
import keras


@keras.saving.register_keras_serializable(package="{module}")
class {layer}(keras.layers.Layer):
    def __init__(self, factor=1.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def build(self, input_shape):
        self.gain = self.add_weight(shape=(input_shape[-1],), initializer="ones")

    def call(self, x):
        return x * self.gain * self.factor

    def get_config(self):
        return {{**super().get_config(), "factor": self.factor}}


@keras.saving.register_keras_serializable(package="{module}")
def half_mse(y_true, y_pred):
    return 0.5 * keras.ops.mean(keras.ops.square(y_true - y_pred), axis=-1)


@keras.saving.register_keras_serializable(package="{module}")
def mean_prediction(y_true, y_pred):
    return keras.ops.mean(y_pred)
'''

RECIPE = """
description: a model built from a plugin's layer, loss and metric
plugins: [{module}]
model:
  inputs: {{x: {{shape: [4]}}}}
  nodes:
    hidden: {{class: Dense, units: 3}}
    scaled: {{class: {layer}, factor: 2.0}}
  outputs:
    scaled: {{loss: half_mse, metrics: [mean_prediction]}}
"""

PREDICT = r"""
import sys
import numpy as np
import keras
import {module}
model = keras.saving.load_model(sys.argv[1], safe_mode=True)
print(model.loss.__name__, type(model.get_layer("scaled")).__name__, model.get_layer("scaled").factor)
np.save(sys.argv[2], model.predict(np.arange(8, dtype="float32").reshape(2, 4), verbose=0))
"""


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """A plugin module written into tmp_path and put on sys.path; fresh names, as Keras' registry is global."""
    names = {"module": f"user_plugin_{uuid.uuid4().hex[:8]}", "layer": f"Scale{uuid.uuid4().hex[:6]}"}
    (tmp_path / f"{names['module']}.py").write_text(PLUGIN.format(**names))
    (tmp_path / "recipe.yaml").write_text(RECIPE.format(**names))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return names


@pytest.mark.slow
def test_plugin_layer_loss_and_metric_train_save_and_reload(cli, plugin, tmp_path):
    code, out, err = cli("-q", "train", "recipe=recipe.yaml", "--smoke")
    assert code == 0, err
    run_dir = tmp_path / out.strip().splitlines()[-1].removeprefix("run: ")
    assert "mean_prediction" in (run_dir / "history.csv").read_text().splitlines()[0]

    import keras

    model = keras.saving.load_model(run_dir / "model.keras", safe_mode=True)
    expected = model.predict(np.arange(8, dtype="float32").reshape(2, 4), verbose=0)
    env = {
        **os.environ,
        "KERAS_BACKEND": "jax",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run(
        [sys.executable, "-c", PREDICT.format(**plugin), str(run_dir / "model.keras"), str(tmp_path / "p.npy")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split()[-3:] == ["half_mse", plugin["layer"], "2.0"]
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), expected, rtol=1e-6)


def test_plugin_names_are_unknown_unless_the_config_lists_the_module(cli, plugin):
    assert cli("check", "recipe=recipe.yaml")[0] == 0  # imported and registered in this process ...
    code, _, err = cli("check", "recipe=recipe.yaml", "plugins=[]")  # ... yet invisible to a config without it
    assert code == 2
    flat = " ".join(err.split())
    assert f"error: model.nodes.scaled.class: unknown layer '{plugin['layer']}'" in flat
    assert "register your own through plugins:" in flat


def test_a_plugin_that_cannot_be_imported(cli, plugin, tmp_path):
    code, _, err = cli("check", "recipe=recipe.yaml", "plugins=[no_such_plugin_module]")
    assert code == 2
    assert "error: plugins.0: cannot import 'no_such_plugin_module'" in " ".join(err.split())
    assert "PYTHONPATH" in err
    # one that is found but fails as it imports is said to be broken, not missing
    broken = f"broken_{plugin['module']}"
    (tmp_path / f"{broken}.py").write_text("raise ValueError('Cannot register a class without get_config')\n")
    code, _, err = cli("check", "recipe=recipe.yaml", f"plugins=[{broken}]")
    flat = " ".join(err.split())
    assert code == 2 and f"cannot import '{broken}': Cannot register a class without get_config" in flat
    assert "importing it raised this: fix it there" in flat and "PYTHONPATH" not in flat


def test_check_plot_draws_the_graph_or_says_why_not(cli, in_tmp):
    code, out, err = cli("check", "recipe=siamese_lstm", "--plot", "model.png")
    assert code == 0
    assert "total params: 20,673" in out  # the table prints either way
    if importlib.util.find_spec("pydot") and shutil.which("dot"):
        assert (in_tmp / "model.png").read_bytes()[:4] == b"\x89PNG"
        assert "graph drawn to model.png" in err
    else:
        assert not (in_tmp / "model.png").exists()
        flat = " ".join(err.split())
        assert "warning: could not draw model.png:" in flat and "install graphviz" in flat
        assert "Traceback" not in err
