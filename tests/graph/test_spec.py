"""The graph language's parser: pure Python, no Keras, every problem under the key to fix."""

import subprocess
import sys

import pytest

from dlcli.errors import ConfigError
from dlcli.graph.spec import Ref, parse

DENSE = {"class": "Dense", "units": 4}


def model(**parts):
    base = {"inputs": {"x": {"shape": [8]}}, "outputs": {"out": {"loss": "mse"}}}
    return {**base, **parts}


def problems(config) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as info:
        parse(config)
    return [(p.key, p.message) for p in info.value.problems]


def wiring(graph) -> dict[str, list[str]]:
    return {n.name: [str(r) for r in n.inputs] for n in graph.nodes}


def test_parsing_imports_neither_keras_nor_jax():
    code = "import sys; from dlcli.graph import parse; parse({'inputs': {'x': {'shape': [2]}}, 'layers': [{'class': 'Dense', 'units': 1, 'name': 'y'}], 'outputs': {'y': {'loss': 'mse'}}}); print(sorted(m for m in ('keras', 'jax') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.strip() == "[]"


# --- stacks and nodes -------------------------------------------------------------------


def test_layers_list_is_a_chain_named_like_keras():
    graph = parse(
        model(
            layers=[
                DENSE,
                {"class": "Activation", "activation": "relu"},
                DENSE,
                {"class": "Dense", "units": 1, "name": "out"},
            ]
        )
    )
    assert wiring(graph) == {"dense": ["x"], "activation": ["dense"], "dense_1": ["activation"], "out": ["dense_1"]}
    assert graph.node("dense_1").path == "model.layers.2"


def test_nodes_default_to_the_previous_node_and_may_refer_forward():
    graph = parse(
        model(nodes={"a": DENSE, "out": {"class": "Add", "inputs": ["a", "b"]}, "b": {**DENSE, "inputs": "x"}})
    )
    assert wiring(graph) == {"a": ["x"], "out": ["a", "b"], "b": ["x"]}
    assert [n.name for n in graph.topological()] == ["a", "b", "out"]


def test_indexed_input_picks_one_output():
    graph = parse(
        model(
            nodes={
                "split": {"class": "Lambda", "function": "f"},
                "out": {"class": "Add", "inputs": ["split[0]", "split[1]"]},
            }
        )
    )
    assert graph.node("out").inputs == [Ref("split", 0), Ref("split", 1)]


# --- blocks -----------------------------------------------------------------------------

RESIDUAL = {
    "params": {"units": "???", "activation": "relu"},
    "nodes": {
        "dense": {"class": "Dense", "units": "$units", "activation": "$activation"},
        "add": {"class": "Add", "inputs": ["dense", "x"]},
    },
}


def test_block_instances_substitute_params_and_take_the_instance_name():
    graph = parse(model(blocks={"res": RESIDUAL}, nodes={"out": {"block": "res", "units": 8}}))
    assert wiring(graph) == {"out_dense": ["x"], "out": ["out_dense", "x"]}
    assert graph.node("out_dense").kwargs == {"units": 8, "activation": "relu"}
    assert graph.node("out_dense").path == "model.blocks.res.nodes.dense"
    assert graph.node("out_dense").via == "model.nodes.out"


def test_repeat_chains_fresh_copies():
    graph = parse(model(blocks={"res": RESIDUAL}, nodes={"out": {"block": "res", "units": 8, "repeat": 3}}))
    assert wiring(graph) == {
        "out_1_dense": ["x"], "out_1_add": ["out_1_dense", "x"],
        "out_2_dense": ["out_1_add"], "out_2_add": ["out_2_dense", "out_1_add"],
        "out_3_dense": ["out_2_add"], "out": ["out_3_dense", "out_2_add"],
    }  # fmt: skip
    assert graph.node("out_2_add").via == "model.nodes.out, copy 2 of 3"


def test_blocks_nest_and_blocks_may_be_passed_params():
    inner = {"params": {"n": "???"}, "nodes": {"d": {"class": "Dense", "units": "$n"}}}
    outer = {
        "params": {"n": 2},
        "nodes": {
            "a": {"block": "inner", "n": "$n"},
            "b": {"block": "inner", "n": "$n", "inputs": "x"},
            "cat": {"class": "Concatenate", "inputs": ["a", "b"]},
        },
    }
    graph = parse(model(blocks={"inner": inner, "outer": outer}, nodes={"out": {"block": "outer", "n": 5}}))
    assert wiring(graph) == {"out_a": ["x"], "out_b": ["x"], "out": ["out_a", "out_b"]}
    assert graph.node("out_b").kwargs == {"units": 5}


def test_sub_model_may_use_its_parents_blocks():
    inner = {"params": {"n": 3}, "nodes": {"d": {"class": "Dense", "units": "$n"}}}
    sub = {"inputs": {"v": {"shape": [8]}}, "nodes": {"enc": {"block": "inner"}}, "outputs": ["enc"]}
    graph = parse(model(blocks={"inner": inner}, shared={"encoder": {"model": sub}}, nodes={"out": {"use": "encoder"}}))
    assert graph.shared["encoder"].node("enc").kwargs == {"units": 3}
    assert graph.node("out").shared and graph.node("out").target == "encoder"


@pytest.mark.parametrize(
    "node, key, message",
    [
        ({"block": "res"}, "model.nodes.out", "block 'res' needs units"),
        ({"block": "res", "units": 2, "unit": 3}, "model.nodes.out.unit", "block 'res' has no parameter 'unit'"),
        ({"block": "rse", "units": 2}, "model.nodes.out.block", "no block 'rse'"),
        ({"block": "res", "units": 2, "repeat": 0}, "model.nodes.out.repeat", "expected a positive integer, got 0"),
        (
            {"block": "res", "units": 2, "inputs": ["x", "x"]},
            "model.nodes.out.inputs",
            "block 'res' takes 1 input(s) (x), got 2",
        ),
        ({**DENSE, "repeat": 2}, "model.nodes.out.repeat", "`repeat:` applies to `block:` nodes"),
    ],
    ids=["missing-param", "unknown-param", "unknown-block", "bad-repeat", "input-count", "repeat-a-layer"],
)
def test_block_instance_errors(node, key, message):
    assert (key, message) in problems(model(blocks={"res": RESIDUAL}, nodes={"out": node}))


def test_a_misspelt_input_is_not_also_reported_as_a_wrong_count():
    assert problems(model(blocks={"res": RESIDUAL}, nodes={"out": {"block": "res", "units": 2, "inputs": "y"}})) == [
        ("model.nodes.out.inputs", "no input or node produces 'y'")
    ]
    assert problems(model(nodes={"a": DENSE, "out": {"class": "Add", "inputs": ["a", "b"]}})) == [
        ("model.nodes.out.inputs", "no input or node produces 'b'")
    ]


def test_a_misspelt_section_is_the_one_problem_not_what_it_leaves_missing():
    config = model(node={"out": DENSE})
    assert problems(config) == [("model.node", "not a model key")]


def test_an_input_is_named_as_keras_names_tensors_and_sparse_is_a_boolean():
    found = problems(
        model(inputs={"a/b": {"shape": [8], "sparse": "maybe"}}, nodes={"out": {**DENSE, "inputs": "a/b"}})
    )
    assert ("model.inputs.a/b", "an input's name cannot contain '/', as 'a/b' does") in found
    assert ("model.inputs.a/b.sparse", "expected true or false, got 'maybe'") in found


def test_a_mistake_inside_a_block_is_reported_once_at_its_definition():
    broken = {"nodes": {"d": {"class": "Dense", "units": 2, "inputs": "y"}}}
    found = problems(model(blocks={"b": broken}, nodes={"a": {"block": "b", "repeat": 3}, "out": {"block": "b"}}))
    assert found == [("model.blocks.b.nodes.d.inputs", "no input or node produces 'y'")]


def test_block_param_typo_in_body():
    block = {"params": {"units": 2}, "nodes": {"d": {"class": "Dense", "units": "$unit"}}}
    assert problems(model(blocks={"b": block}, nodes={"out": {"block": "b"}})) == [
        ("model.blocks.b.nodes", "$unit is not a parameter of block 'b'")
    ]


def test_a_block_that_contains_itself():
    loop = {"nodes": {"again": {"block": "loop"}}}
    assert ("model.blocks.loop.nodes.again.block", "a block contains itself: loop -> loop") in problems(
        model(blocks={"loop": loop}, nodes={"out": {"block": "loop"}})
    )


# --- shared instances -------------------------------------------------------------------


def test_use_shares_one_instance():
    graph = parse(
        model(
            inputs={"l": {"shape": [8]}, "r": {"shape": [8]}},
            shared={"enc": DENSE},
            nodes={
                "a": {"use": "enc", "inputs": "l"},
                "b": {"use": "enc", "inputs": "r"},
                "out": {"class": "Add", "inputs": ["a", "b"]},
            },
        )
    )
    assert [(n.name, n.target, n.shared) for n in graph.nodes[:2]] == [("a", "enc", True), ("b", "enc", True)]


@pytest.mark.parametrize(
    "shared, nodes, expected",
    [
        ({"enc": DENSE}, {"out": {"use": "ecn"}}, ("model.nodes.out.use", "no shared instance 'ecn'")),
        (
            {"enc": DENSE},
            {"out": {"use": "enc", "units": 3}},
            ("model.nodes.out", "a `use:` node shares 'enc' as configured in `shared:`; it takes no arguments (units)"),
        ),
        (
            {"enc": DENSE, "idle": DENSE},
            {"out": {"use": "enc"}},
            ("model.shared.idle", "no node uses this shared instance"),
        ),
        (
            {"enc": {"units": 3}},
            {"out": {"use": "enc"}},
            (
                "model.shared.enc",
                "a shared entry needs either `class:` (a layer or keras.applications model) or `model:` (a graph)",
            ),
        ),
        (
            {
                "enc": {
                    "model": {"inputs": {"v": {"shape": [2]}}, "nodes": {"d": DENSE}, "outputs": {"d": {"loss": "mse"}}}
                }
            },
            {"out": {"use": "enc"}},
            (
                "model.shared.enc.model.outputs.d.loss",
                "a sub-model is not compiled: give its outputs as a list of node names",
            ),
        ),
    ],
    ids=["unknown", "arguments", "unused", "no-class", "sub-model-loss"],
)
def test_shared_errors(shared, nodes, expected):
    assert expected in problems(model(shared=shared, nodes=nodes))


# --- outputs, losses, weights -----------------------------------------------------------

TWO_HEADS = {"a": DENSE, "b": {**DENSE, "inputs": "x"}}


def test_model_level_loss_weights_and_metrics_mirror_compile():
    graph = parse(
        {
            "inputs": {"x": {"shape": [8]}},
            "nodes": TWO_HEADS,
            "outputs": ["a", "b"],
            "loss": "mse",
            "loss_weights": [1.0, 0.2],
            "metrics": {"b": ["mae"]},
        }
    )
    assert graph.outputs == {
        "a": {"loss": "mse", "loss_weight": 1.0},
        "b": {"loss": "mse", "loss_weight": 0.2, "metrics": ["mae"]},
    }
    assert graph.source("b", "loss_weight") == "model.loss_weights.1"
    assert graph.source("b", "metrics") == "model.metrics.b"
    assert graph.source("a", "loss") == "model.loss"


def test_a_list_of_losses_goes_to_the_outputs_in_order_as_in_compile():
    graph = parse(
        {
            "inputs": {"x": {"shape": [8]}},
            "nodes": TWO_HEADS,
            "outputs": ["a", "b"],
            "loss": ["mse", "binary_crossentropy"],
        }
    )
    assert (graph.outputs["a"]["loss"], graph.outputs["b"]["loss"]) == ("mse", "binary_crossentropy")
    assert graph.source("b", "loss") == "model.loss.1"


def test_an_outputs_own_loss_wins_over_the_model_default():
    graph = parse(
        {"inputs": {"x": {"shape": [8]}}, "nodes": TWO_HEADS, "outputs": {"a": {"loss": "mae"}, "b": {}}, "loss": "mse"}
    )
    assert (graph.outputs["a"]["loss"], graph.outputs["b"]["loss"]) == ("mae", "mse")
    assert graph.source("a", "loss") == "model.outputs.a.loss"


@pytest.mark.parametrize(
    "extra, expected",
    [
        ({"loss": {"a": "mse", "bb": "mse"}}, ("model.loss.bb", "not an output of the model")),
        ({"loss": "mse", "loss_weights": {"c": 1.0}}, ("model.loss_weights.c", "not an output of the model")),
        ({"loss": "mse", "loss_weights": [1.0]}, ("model.loss_weights", "1 values for 2 outputs (a, b)")),
        ({"loss": ["mse"]}, ("model.loss", "1 values for 2 outputs (a, b)")),
        ({"loss": {"a": "mse"}}, ("model.outputs.b.loss", "every output needs a loss")),
        (
            {"loss": "mse", "loss_weights": [1.0, -1]},
            ("model.outputs.b.loss_weight", "expected a non-negative number, got -1"),
        ),
        (
            {"outputs": {"a": {"loss": "mse", "loss_weight": 2}, "b": {"loss": "mse"}}, "loss_weights": {"a": 1}},
            ("model.loss_weights.a", "set twice: here and in model.outputs.a.loss_weight"),
        ),
    ],
    ids=["loss-key", "weight-key", "weight-count", "loss-count", "missing-loss", "negative-weight", "set-twice"],
)
def test_output_errors(extra, expected):
    config = {"inputs": {"x": {"shape": [8]}}, "nodes": TWO_HEADS, "outputs": ["a", "b"], **extra}
    assert expected in problems(config)


def test_a_misspelt_output_is_the_only_problem_reported():
    assert problems(model(nodes={"out_": DENSE})) == [("model.outputs.out", "no node 'out'")]


def test_a_misspelt_listed_output_is_blamed_not_the_losses_keyed_by_the_right_name():
    config = {"inputs": {"x": {"shape": [8]}}, "nodes": {"reg": DENSE, "cls": {**DENSE, "inputs": "x"}}, "outputs": ["reg", "clss"],
              "loss": {"reg": "mse", "cls": "binary_crossentropy"}, "metrics": {"cls": ["accuracy"]}, "loss_weights": {"reg": 1, "cls": 2}}  # fmt: skip
    with pytest.raises(ConfigError) as info:
        parse(config)
    assert [(p.key, p.message, p.hint) for p in info.value.problems] == [
        ("model.outputs.clss", "no node 'clss'", "did you mean 'cls'?")
    ]


def test_a_key_that_is_neither_output_nor_node_is_still_reported_beside_a_misspelt_output():
    config = {
        "inputs": {"x": {"shape": [8]}},
        "nodes": {"reg": DENSE, "cls": {**DENSE, "inputs": "x"}},
        "outputs": ["reg", "clss"],
        "loss": {"reg": "mse", "cls": "mse", "rgb": "mse"},
    }
    assert problems(config) == [
        ("model.outputs.clss", "no node 'clss'"),
        ("model.loss.rgb", "not an output of the model"),
    ]


# --- graph checks -----------------------------------------------------------------------


def test_cycle_is_printed_as_a_path():
    found = problems(
        model(nodes={"a": {**DENSE, "inputs": "c"}, "b": DENSE, "c": DENSE, "out": {**DENSE, "inputs": "x"}})
    )
    assert found == [("model.nodes", "the graph has a cycle: a -> b -> c -> a")]


def test_a_node_that_names_itself_is_a_cycle():
    found = problems(model(nodes={"a": DENSE, "b": {**DENSE, "inputs": "b"}, "out": DENSE}))
    assert found == [("model.nodes", "the graph has a cycle: b -> b")]


def test_a_node_without_a_class_suggests_the_node_it_probably_meant():
    with pytest.raises(ConfigError) as info:
        parse(model(nodes={"hidden1": DENSE, "dense1": {"kernel_regularizer": "l2"}, "out": DENSE}))
    (problem,) = info.value.problems
    assert (problem.key, problem.hint) == (
        "model.nodes.dense1",
        "no node 'dense1' in the recipe: did you mean 'hidden1'?",
    )


def test_block_copies_know_where_each_parameter_was_set():
    conv = {
        "params": {"filters": "???", "size": 3},
        "nodes": {
            "conv": {"class": "Conv2D", "filters": "$filters", "kernel_size": "$size", "layer": {"units": "$filters"}}
        },
    }
    outer = {"params": {"width": "???"}, "nodes": {"inner": {"block": "conv", "filters": "$width"}}}
    graph = parse(
        model(
            blocks={"conv": conv, "outer": outer},
            nodes={"a": {"block": "conv", "filters": 4}, "out": {"block": "outer", "width": 8}},
        )
    )
    assert graph.node("a").origins == {
        "filters": "model.nodes.a.filters",
        "kernel_size": "model.blocks.conv.params.size",
        "layer.units": "model.nodes.a.filters",
    }
    assert graph.node("out").origins["filters"] == "model.nodes.out.width"  # through the outer block's parameter
    problem = graph.node("out").problem("bad", key="filters")
    assert (problem.key, problem.message) == (
        "model.nodes.out.width",
        "bad (at model.blocks.conv.nodes.conv) [block copy: model.blocks.outer.nodes.inner in model.nodes.out]",
    )


def test_unused_nodes_and_inputs():
    found = problems(
        model(
            inputs={"x": {"shape": [8]}, "spare": {"shape": [2]}},
            nodes={"out": {**DENSE, "inputs": "x"}, "side": {**DENSE, "inputs": "x"}},
        )
    )
    assert found == [
        ("model.nodes.side", "this node's output is never used"),
        ("model.inputs.spare", "this input is never used"),
    ]


def test_unknown_input_suggests_a_name():
    with pytest.raises(ConfigError) as info:
        parse(model(nodes={"hidden": DENSE, "out": {**DENSE, "inputs": "hiden"}}))
    (problem,) = info.value.problems
    assert (problem.key, problem.message, problem.hint) == (
        "model.nodes.out.inputs",
        "no input or node produces 'hiden'",
        "did you mean 'hidden'?",
    )


def test_merge_needs_two_inputs():
    assert ("model.nodes.out.inputs", "Concatenate merges two or more inputs") in problems(
        model(nodes={"out": {"class": "Concatenate"}})
    )


def test_every_problem_is_reported_at_once():
    found = problems(
        {
            "inputs": {"x": {"shape": [0]}},
            "nodes": {"a": {"units": 3}, "b": {**DENSE, "name": "bee"}},
            "outputs": {"b": {"loss": "mse", "weight": 1}},
            "optimizer": "adam",
        }
    )
    assert [key for key, _ in found] == [
        "model.optimizer",
        "model.inputs.x.shape",
        "model.nodes.a",
        "model.nodes.b.name",
        "model.outputs.b.weight",
    ]


def test_layer_names_must_be_unique():
    clash = {"nodes": {"d": DENSE, "e": DENSE}}
    found = problems(
        model(
            blocks={"b": clash},
            nodes={"blk_d": DENSE, "blk": {"block": "b"}, "out": {"class": "Add", "inputs": ["blk_d", "blk"]}},
        )
    )
    assert found == [
        (
            "model.blocks.b.nodes.d",
            "the layer name 'blk_d' is already taken by model.nodes.blk_d [block copy: model.nodes.blk]",
        )
    ]


def test_nodes_cannot_take_an_inputs_or_shared_instances_name():
    found = problems(model(shared={"enc": DENSE}, nodes={"x": DENSE, "enc": {"use": "enc"}, "out": DENSE}))
    assert found == [
        ("model.nodes.x", "the layer name 'x' is already taken by model.inputs.x"),
        ("model.nodes.enc", "the layer name 'enc' is already taken by model.shared.enc"),
    ]
