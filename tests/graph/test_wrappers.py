"""Layers that take a layer (Bidirectional, TimeDistributed): the inner layer is a nested
`{class: ..., ...}` spec, checked like a node, and the model saves, reloads and counts
parameters exactly as the same model written in Keras by hand."""

from pathlib import Path

import numpy as np
import pytest

WRAPPERS = Path(__file__).parent / "recipes" / "wrappers.yaml"


def by_hand():
    import keras

    seq = keras.Input((10, 4))
    x = keras.layers.Bidirectional(
        keras.layers.GRU(8, return_sequences=True),
        backward_layer=keras.layers.GRU(8, return_sequences=True, go_backwards=True),
    )(seq)
    x = keras.layers.TimeDistributed(keras.layers.Dense(3, kernel_regularizer="l2"))(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    return keras.Model(seq, keras.layers.Dense(1, activation="sigmoid")(x))


def test_nested_layer_specs_build_save_and_reload(tmp_path):
    import keras

    from dlcli import lifecycle

    model = lifecycle.build(lifecycle.prepare(str(WRAPPERS), [])).model
    bi, td = model.get_layer("bi"), model.get_layer("td")
    assert isinstance(bi, keras.layers.Bidirectional) and isinstance(bi.forward_layer, keras.layers.GRU)
    assert bi.backward_layer.go_backwards and bi.forward_layer.units == 8
    assert isinstance(td.layer, keras.layers.Dense) and td.layer.name == "td_layer"
    assert isinstance(td.layer.kernel_regularizer, keras.regularizers.L2)  # named values inside resolve too
    assert model.count_params() == by_hand().count_params() == 672 + 51 + 4

    x = np.random.default_rng(0).normal(size=(5, 10, 4)).astype("float32")
    before = model.predict(x, verbose=0)
    model.save(tmp_path / "model.keras")
    again = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    np.testing.assert_allclose(again.predict(x, verbose=0), before, rtol=1e-6, atol=1e-6)
    assert again.count_params() == model.count_params()


@pytest.mark.parametrize(
    "override, fragments",
    [
        (
            "model.nodes.bi.layer.class=GRUU",
            ["error: model.nodes.bi.layer.class: unknown layer 'GRUU'", "did you mean 'GRU'?"],
        ),
        (
            "+model.nodes.td.layer.unitz=3",
            ["error: model.nodes.td.layer.unitz: Dense takes no argument 'unitz'", "did you mean 'units'?"],
        ),
        (
            "model.nodes.bi.backward_layer.units=-2",
            ["error: model.nodes.bi.backward_layer.units: GRU(units=-2,", "failed:"],
        ),
        (
            "+model.nodes.td.layer.inputs=bi",
            [
                "error: model.nodes.td.layer.inputs: a layer given as an argument is built inside the layer that takes it"
            ],
        ),
    ],
    ids=["unknown-inner-class", "bad-inner-keyword", "bad-inner-value", "inner-wiring"],
)
def test_nested_layer_mistakes_name_their_key(cli, in_tmp, override, fragments):
    code, out, err = cli("check", f"recipe={WRAPPERS}", override)
    assert code == 2, out + err
    for fragment in fragments:
        assert fragment in " ".join(err.split())
    assert "Traceback" not in err and "Please initialize" not in err
