"""Every recipe builds as issue 4 lists it, and its saved model reloads predicting the same numbers.

The table holds Keras 3's `count_params()`, inputs and outputs of each seed
model, as `dlcli check --json` reports them. Saving goes through Keras'
serialization with shared layers, a shared keras.applications model, block
copies and merges, as a run's `model.keras` does, and reloads in safe mode.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from dlcli.config import discover

N = None
SEEDS = [
    # (recipe, count_params(), inputs as (name, shape, dtype), outputs as (name, shape))
    ("keras_intro", 7_114, [("input", [N, 100], "float32")], [("predictions", [N, 10])]),
    ("qa_two_input", 1_000_052, [("text", [N, N], "int32"), ("question", [N, N], "int32")], [("answer", [N, 500])]),
    ("social_multi_output", 14_146_316, [("posts", [N, N], "int32")], [("age", [N, 1]), ("income", [N, 10]), ("gender", [N, 1])]),
    ("inception_block", 541_568, [("x", [N, 32, 32, 64], "float32")], [("output", [N, 16, 16, 512])]),
    ("residual_identity", 442_752, [("x", [N, 32, 32, 128], "float32")], [("add", [N, 32, 32, 128])]),
    ("residual_projection", 229_760, [("x", [N, 32, 32, 64], "float32")], [("add", [N, 16, 16, 128])]),
    ("siamese_lstm", 20_673, [("left", [N, N, 128], "float32"), ("right", [N, N, 128], "float32")], [("predictions", [N, 1])]),
    ("dual_camera_xception", 20_861_480, [("left_input", [N, 250, 250, 3], "float32"), ("right_input", [N, 250, 250, 3], "float32")], [("merged_features", [N, 8, 8, 4096])]),
    ("news_main_aux", 5_200_610, [("main_input", [N, 100], "int32"), ("aux_input", [N, 5], "float32")], [("main_output", [N, 1]), ("aux_output", [N, 1])]),
    ("separable_convnet", 38_949, [("image", [N, 64, 64, 3], "float32")], [("predictions", [N, 10])]),
    ("imdb_conv1d", 291_937, [("review", [N, 500], "int32")], [("sentiment", [N, 1])]),
    ("residual_cnn", 245_034, [("image", [N, 8, 8, 1], "float32")], [("digit", [N, 10])]),
    ("inception_cnn", 87_978, [("image", [N, 8, 8, 1], "float32")], [("digit", [N, 10])]),
]  # fmt: skip


# The dual-camera Xception's forward pass at 250x250 compiles for ~20 s on a CPU: its reload is checked
# on weights and config; tests/cli/test_smoke.py trains it (at 71x71) through the whole pipeline.
WEIGHTS_ONLY = {"dual_camera_xception"}


def test_every_recipe_of_the_issue_is_shipped_with_a_description():
    shipped = discover()
    for name, *_ in SEEDS:
        assert name in shipped and shipped[name].description, name


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")  # saved before any training step
@pytest.mark.parametrize("recipe", sorted(discover()))
def test_recipe_builds_as_listed_and_reloads(recipe, tmp_path):
    import keras

    from dlcli import lifecycle
    from dlcli.data.sources import synthetic
    from dlcli.graph.summary import describe

    built = lifecycle.build(lifecycle.prepare(recipe, []))
    info = describe(built.model, built.prepared.graph)  # what `check --json` prints
    expected = {s[0]: s[1:] for s in SEEDS}.get(recipe)
    if expected:
        params, inputs, outputs = expected
        assert info["total_params"] == params
        assert [(i["name"], i["shape"], i["dtype"]) for i in info["inputs"]] == inputs
        assert [(o["name"], o["shape"]) for o in info["outputs"]] == outputs
    assert sum(layer["params"] for layer in info["layers"]) == info["total_params"]

    built.model.save(tmp_path / "model.keras")
    reloaded = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    assert [w.path for w in reloaded.weights] == [w.path for w in built.model.weights]
    if recipe in WEIGHTS_ONLY:  # the same weights in the same graph compute the same numbers
        for a, b in zip(reloaded.get_weights(), built.model.get_weights()):
            np.testing.assert_array_equal(a, b)
    else:
        data = built.prepared.cfg.data.copy()
        data.samples = 2
        x = synthetic(data, built.io, seed=0).x
        x = x if len(x) > 1 else next(iter(x.values()))
        keras.tree.map_structure(
            lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
            built.model.predict(x, verbose=0),
            reloaded.predict(x, verbose=0),
        )
    keras.backend.clear_session()


def test_check_lists_layers_in_config_order_with_their_inputs(cli, in_tmp):
    code, out, _ = cli("check", "recipe=siamese_lstm", "--json")
    assert code == 0
    layers = [(layer["name"], layer["type"], layer["inputs"]) for layer in json.loads(out)["layers"]]
    assert layers == [
        ("left", "InputLayer", []),
        ("right", "InputLayer", []),
        ("lstm", "LSTM", ["left_output: left", "right_output: right"]),  # one layer, two calls
        ("merged", "Concatenate", ["left_output, right_output"]),
        ("predictions", "Dense", ["merged"]),
    ]


def test_block_copies_are_named_after_their_instance(cli, in_tmp):
    code, out, _ = cli("check", "recipe=residual_cnn", "--json")
    assert code == 0
    names = [layer["name"] for layer in json.loads(out)["layers"]]
    assert names[:8] == [
        "image",
        "stem_conv",
        "stem_bn",
        "stem",
        "stage1_1_conv1_conv",
        "stage1_1_conv1_bn",
        "stage1_1_conv1",
        "stage1_1_conv2",
    ]
    assert {"stage1_1_add", "stage1_1_relu", "stage1", "stage2_shortcut", "stage2", "stage3"} <= set(names)
    assert "stage1_2_relu" not in names  # the last copy's output takes the instance's name


def test_a_users_recipe_pulls_in_the_block_library(cli, in_tmp):
    code, out, err = cli(
        "check", f"recipe={Path(__file__).parent / 'recipes' / 'three_residual_blocks.yaml'}", "--json"
    )
    assert code == 0, err
    info = json.loads(out)
    stem = 3 * 3 * 3 * 128 + 4 * 128  # conv without bias, BatchNormalization
    block = 2 * (3 * 3 * 128 * 128 + 4 * 128)
    assert info["total_params"] == stem + 3 * block + 128 * 10 + 10
    assert [layer["name"] for layer in info["layers"]][-4:] == ["residual_3_add", "residual", "pool", "label"]


def test_check_table_shows_counts_and_wiring(cli, in_tmp):
    code, out, _ = cli("check", "recipe=news_main_aux")
    assert code == 0
    flat = " ".join(out.split())
    assert "total params: 5,200,610 trainable: 5,200,610 non-trainable: 0" in flat
    assert "inputs: main_input (None, 100) int32, aux_input (None, 5) float32" in flat
    assert "outputs: main_output (None, 1), aux_output (None, 1)" in flat
    assert "concatenated Concatenate (37,) 0 lstm_out, aux_input" in flat
    assert "output aux_output: loss binary_crossentropy, weight 0.2, metrics none" in flat
