"""Topological order and cycles (graphlib underneath): which node comes first, and which cycle is named."""

import pytest

from dlcli.errors import ConfigError
from dlcli.graph import parse

DENSE = {"class": "Dense", "units": 4}


def nodes(**wired):
    """`a="x"` -> node a, a Dense on x; `m=["a", "b"]` -> node m, an Add of a and b; the last node is the output."""
    made = {
        name: {"class": "Add", "inputs": list(i)} if isinstance(i, list) else {**DENSE, "inputs": i}
        for name, i in wired.items()
    }
    return {"inputs": {"x": {"shape": [4]}}, "nodes": made, "outputs": {list(wired)[-1]: {"loss": "mse"}}}


ORDERS = [
    ("declared-in-order", nodes(a="x", b="a", c="b"), ["a", "b", "c"]),
    ("input-declared-later", nodes(b="a", a="x", out=["a", "b"]), ["a", "b", "out"]),
    # batch by batch: a and c need only x, so both come before b, each batch in declaration order
    ("batches", nodes(b="a", c="x", a="x", out=["b", "c"]), ["c", "a", "b", "out"]),
    ("diamond", nodes(left="x", right="x", out=["left", "right"]), ["left", "right", "out"]),
    ("long-branch-last", nodes(d="c", c="b", b="x", e="x", out=["d", "e"]), ["b", "e", "c", "d", "out"]),
]


@pytest.mark.parametrize(("config", "expected"), [c[1:] for c in ORDERS], ids=[c[0] for c in ORDERS])
def test_each_node_comes_after_its_inputs_batches_in_declaration_order(config, expected):
    assert [n.name for n in parse(config).topological()] == expected


# Found walking from each node (in declaration order) up to its inputs, as the hand-written search did.
CYCLES = [
    ("self", nodes(a="x", b="b", out="a"), "b -> b"),
    ("three", nodes(a="c", b="a", c="b", out="x"), "a -> b -> c -> a"),
    ("declared-backwards", nodes(c="b", b="a", a="c", out="x"), "c -> a -> b -> c"),
    ("reached-from-a-node-outside-it", nodes(out="b", a="b", b="a"), "b -> a -> b"),
    ("first-of-two", nodes(a="b", b="a", c="d", d="c", out=["a", "c"]), "a -> b -> a"),
]


@pytest.mark.parametrize(("config", "cycle"), [c[1:] for c in CYCLES], ids=[c[0] for c in CYCLES])
def test_a_cycle_is_named_in_data_flow_order(config, cycle):
    with pytest.raises(ConfigError) as info:
        parse(config)
    found = [(p.key, p.message) for p in info.value.problems if "cycle" in p.message]
    assert found == [("model.nodes", f"the graph has a cycle: {cycle}")]
