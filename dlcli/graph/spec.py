"""Parse a `model:` config into a flat, checked graph, without importing Keras.

The language (DESIGN.md, "The graph language"): `inputs`, `nodes` (or a plain
`layers` list), `shared` instances, `blocks` templates and `outputs`, every one
a mapping keyed by name so each value has an override path. A node names its
Keras class and passes its other keys as constructor arguments; `class`,
`inputs`, `use`, `block` and `repeat` do the wiring. Every problem is collected
and reported at once, each under the dotted config path of the node at fault.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from dlcli.errors import Collector, did_you_mean

MODEL_KEYS = ("name", "inputs", "nodes", "layers", "shared", "blocks", "outputs", "loss_weights")
WIRING = ("class", "inputs", "use", "block", "repeat")
INPUT_KEYS = ("shape", "dtype", "vocab", "sparse")
OUTPUT_KEYS = ("loss", "loss_weight", "metrics")
BLOCK_KEYS = ("params", "inputs", "nodes", "output")
_REF = re.compile(r"^(?P<node>[^\[\]]+)(\[(?P<index>\d+)\])?$")


@dataclass(frozen=True)
class Ref:
    """One input of a node: a node or model input, or one output `node[i]` of a multi-output layer."""

    node: str
    index: int | None = None

    def __str__(self) -> str:
        return self.node if self.index is None else f"{self.node}[{self.index}]"


@dataclass
class Node:
    name: str  # the Keras layer name
    path: str  # where it came from in the config, for error messages
    target: str  # a class name, or a shared instance's name when `shared` is true
    kwargs: dict[str, Any]
    inputs: list[Ref]
    shared: bool = False


@dataclass
class Graph:
    inputs: dict[str, dict[str, Any]]
    nodes: list[Node]
    outputs: dict[str, dict[str, Any]]  # output name -> {loss, loss_weight, metrics}
    producers: dict[str, str]  # output name -> the node that computes it
    shared: dict[str, dict[str, Any]] = field(default_factory=dict)
    path: str = "model"

    def node(self, name: str) -> Node | None:
        return next((n for n in self.nodes if n.name == name), None)

    def topological(self) -> list[Node]:
        """Nodes in an order where every node comes after its inputs (checked acyclic)."""
        by_name = {n.name: n for n in self.nodes}
        done: set[str] = set(self.inputs)
        order: list[Node] = []

        def visit(node: Node) -> None:
            if node.name in done:
                return
            for ref in node.inputs:
                if ref.node in by_name:
                    visit(by_name[ref.node])
            done.add(node.name)
            order.append(node)

        for node in self.nodes:
            visit(node)
        return order


def parse(model: Any, path: str = "model", *, require_losses: bool = True) -> Graph:
    """The checked graph of a `model:` mapping; raises ConfigError listing every problem."""
    problems = Collector()
    if not isinstance(model, dict) or not model:
        problems.add(path, "no model defined", "pick one with model=NAME or write model: {inputs: ..., nodes: ...}")
        problems.raise_if_any()
    for key in model:
        if key not in MODEL_KEYS:
            problems.add(f"{path}.{key}", "not a model key", _hint(key, MODEL_KEYS))
    inputs = _parse_inputs(model.get("inputs"), f"{path}.inputs", problems)
    raw_nodes = _raw_nodes(model, path, problems)
    blocks = _parse_blocks(model.get("blocks") or {}, f"{path}.blocks", problems)
    shared = _mapping(model.get("shared") or {}, f"{path}.shared", problems)
    for name, spec in shared.items():
        if not isinstance(spec, dict) or ("class" not in spec and "model" not in spec):
            problems.add(f"{path}.shared.{name}", "a shared entry needs `class:` (a layer or keras.applications model) or `model:` (a graph)")
    expander = _Expander(blocks, shared, problems)
    entry = Ref(next(iter(inputs))) if len(inputs) == 1 else None
    expander.expand(raw_nodes, f"{path}.nodes", {name: Ref(name) for name in inputs}, entry)
    outputs = _parse_outputs(model.get("outputs"), f"{path}.outputs", problems, require_losses)
    producers = {name: expander.resolve(name) for name in outputs}
    graph = Graph(inputs, expander.finish(), outputs, producers, shared, path)
    _check_loss_weights(model.get("loss_weights"), graph, path, problems)
    problems.raise_if_any()
    _check_wiring(graph, problems)
    problems.raise_if_any()
    return graph


def _hint(word: str, options) -> str:
    return " ".join(x for x in (did_you_mean(word, options), "valid: " + ", ".join(options)) if x)


def _mapping(value: Any, path: str, problems: Collector) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.add(path, f"expected a mapping of name -> settings, got {type(value).__name__}")
        return {}
    return value


def _parse_inputs(raw: Any, path: str, problems: Collector) -> dict[str, dict]:
    inputs = _mapping(raw, path, problems)
    if not inputs:
        problems.add(path, "the model declares no inputs", "add inputs: {input: {shape: [784]}}")
    for name, spec in inputs.items():
        where = f"{path}.{name}"
        if not isinstance(spec, dict) or "shape" not in spec:
            problems.add(where, "an input needs a shape", "for example {shape: [784]} or {shape: [null, 128], dtype: int32}")
            continue
        for key in spec:
            if key not in INPUT_KEYS:
                problems.add(f"{where}.{key}", "not an input key", _hint(key, INPUT_KEYS))
        shape = spec["shape"]
        if not isinstance(shape, list) or not all(d is None or (isinstance(d, int) and d > 0) for d in shape):
            problems.add(f"{where}.shape", f"expected a list of positive integers or null, got {shape!r}")
    return inputs


def _raw_nodes(model: dict, path: str, problems: Collector) -> dict[str, Any]:
    if "nodes" in model and "layers" in model:
        problems.add(path, "give either `nodes` (named) or `layers` (a plain stack), not both")
    if "layers" not in model:
        nodes = _mapping(model.get("nodes"), f"{path}.nodes", problems)
        if not nodes and "nodes" not in model:
            problems.add(path, "the model has no nodes", "add nodes: {name: {class: Dense, units: 10}, ...}")
        return nodes
    layers = model["layers"]
    if not isinstance(layers, list):
        problems.add(f"{path}.layers", "expected a list of layers")
        return {}
    nodes: dict[str, Any] = {}
    counts: dict[str, int] = {}
    for i, layer in enumerate(layers):
        if not isinstance(layer, dict):
            problems.add(f"{path}.layers.{i}", f"expected a mapping with `class:`, got {layer!r}")
            continue
        layer = dict(layer)
        name = layer.pop("name", None)
        if name is None:
            base = _snake(str(layer.get("class", "layer")))
            counts[base] = counts.get(base, 0) + 1
            name = base if counts[base] == 1 else f"{base}_{counts[base] - 1}"
        nodes[str(name)] = layer
    return nodes


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z][a-z])|(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


@dataclass
class _Block:
    params: dict[str, Any]
    inputs: list[str]
    nodes: dict[str, Any]
    output: str


def _parse_blocks(raw: dict, path: str, problems: Collector) -> dict[str, _Block]:
    blocks = {}
    for name, spec in _mapping(raw, path, problems).items():
        where = f"{path}.{name}"
        if not isinstance(spec, dict) or not isinstance(spec.get("nodes"), dict) or not spec["nodes"]:
            problems.add(where, "a block needs `nodes:` (and may declare `params:`, `inputs:`, `output:`)")
            continue
        for key in spec:
            if key not in BLOCK_KEYS:
                problems.add(f"{where}.{key}", "not a block key", _hint(key, BLOCK_KEYS))
        block_inputs = spec.get("inputs", ["x"])
        block_inputs = [block_inputs] if isinstance(block_inputs, str) else list(block_inputs)
        output = spec.get("output", list(spec["nodes"])[-1])
        if output not in spec["nodes"]:
            problems.add(f"{where}.output", f"{output!r} is not a node of the block", did_you_mean(output, spec["nodes"]))
        blocks[name] = _Block(dict(spec.get("params") or {}), block_inputs, spec["nodes"], output)
    return blocks


def _substitute(value: Any, params: dict[str, Any]) -> Any:
    """Replace "$name" strings with block parameter values, recursively."""
    if isinstance(value, str) and value.startswith("$") and value[1:] in params:
        return params[value[1:]]
    if isinstance(value, list):
        return [_substitute(v, params) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, params) for k, v in value.items()}
    return value


class _Expander:
    """Turns nodes, `use:` calls and `block:` instances (with `repeat:`) into a flat node list.

    Names may refer forward (a mapping's order is not a promise of topology);
    a block instance's name stands for its output node, resolved by `aliases`.
    """

    def __init__(self, blocks: dict[str, _Block], shared: dict, problems: Collector):
        self.blocks, self.shared, self.problems = blocks, shared, problems
        self.nodes: list[Node] = []
        self.aliases: dict[str, str] = {}

    def expand(self, raw: dict, path: str, scope: dict[str, Ref], entry: Ref | None, prefix: str = "") -> None:
        local = {**scope, **{name: Ref(f"{prefix}{name}") for name in raw}}
        previous = entry
        for name, spec in raw.items():
            where = f"{path}.{name}"
            if not isinstance(spec, dict):
                self.problems.add(where, f"expected a mapping with `class:`, `use:` or `block:`, got {spec!r}")
                continue
            kinds = [k for k in ("class", "use", "block") if k in spec]
            if len(kinds) != 1:
                self.problems.add(where, "a node needs exactly one of `class:`, `use:` or `block:`", "e.g. {class: Dense, units: 64}")
                continue
            refs = self._refs(spec.get("inputs"), previous, where, {k: v for k, v in local.items() if k != name})
            full = f"{prefix}{name}"
            if kinds[0] == "block":
                self._instantiate(spec, where, refs, full)
            else:
                self._plain(spec, kinds[0], where, refs, full)
            previous = Ref(full)

    def resolve(self, name: str) -> str:
        """The node that produces `name` (a block instance stands for its output node)."""
        seen = set()
        while name in self.aliases and name not in seen:
            seen.add(name)
            name = self.aliases[name]
        return name

    def finish(self) -> list[Node]:
        for node in self.nodes:
            node.inputs = [Ref(self.resolve(r.node), r.index) for r in node.inputs]
        return self.nodes

    def _refs(self, raw: Any, previous: Ref | None, where: str, local: dict[str, Ref]) -> list[Ref]:
        if raw is None:
            if previous is None:
                self.problems.add(f"{where}.inputs", "no input given and there is no single previous node", "name it: inputs: <input or node>")
                return []
            return [previous]
        refs = []
        for item in raw if isinstance(raw, list) else [raw]:
            match = _REF.match(str(item))
            if not match:
                self.problems.add(f"{where}.inputs", f"{item!r} is not a node name or node[i]")
            elif match["node"] not in local:
                self.problems.add(f"{where}.inputs", f"no input or node produces {match['node']!r}", did_you_mean(match["node"], local))
            else:
                target = local[match["node"]]
                index = int(match["index"]) if match["index"] else target.index
                refs.append(Ref(target.node, index))
        return refs

    def _plain(self, spec: dict, kind: str, where: str, refs: list[Ref], name: str) -> None:
        kwargs = {k: v for k, v in spec.items() if k not in WIRING}
        if "repeat" in spec:
            self.problems.add(f"{where}.repeat", "`repeat:` applies to `block:` nodes")
        if kind == "use":
            target = str(spec["use"])
            if target not in self.shared:
                self.problems.add(f"{where}.use", f"no shared instance {target!r}", did_you_mean(target, self.shared) or f"shared: {', '.join(self.shared) or '(none)'}")
            if kwargs:
                self.problems.add(where, f"a `use:` node shares {target!r} as configured in `shared:`; it takes no arguments ({', '.join(kwargs)})")
            self.nodes.append(Node(name, where, target, {}, refs, shared=True))
        else:
            if "name" in kwargs:
                self.problems.add(f"{where}.name", "the node's key is the layer's name; remove `name:`")
            self.nodes.append(Node(name, where, str(spec["class"]), kwargs, refs))

    def _instantiate(self, spec: dict, where: str, refs: list[Ref], name: str) -> None:
        block_name = str(spec["block"])
        block = self.blocks.get(block_name)
        if block is None:
            self.problems.add(f"{where}.block", f"no block {block_name!r}", did_you_mean(block_name, self.blocks) or f"blocks: {', '.join(self.blocks) or '(none)'}")
            return
        args = {k: v for k, v in spec.items() if k not in WIRING}
        for key in args:
            if key not in block.params:
                self.problems.add(f"{where}.{key}", f"block {block_name!r} has no parameter {key!r}", _hint(key, list(block.params)) if block.params else "it declares no params")
        repeat = spec.get("repeat", 1)
        if not isinstance(repeat, int) or repeat < 1:
            self.problems.add(f"{where}.repeat", f"expected a positive integer, got {repeat!r}")
            return
        if len(refs) != len(block.inputs):
            self.problems.add(f"{where}.inputs", f"block {block_name!r} takes {len(block.inputs)} input(s) ({', '.join(block.inputs)}), got {len(refs)}")
            return
        if repeat > 1 and len(block.inputs) != 1:
            self.problems.add(f"{where}.repeat", "only single-input blocks can be repeated (each copy feeds the next)")
            return
        body = _substitute(block.nodes, {**block.params, **args})
        for k in range(repeat):
            prefix = f"{name}_" if repeat == 1 else f"{name}_{k + 1}_"
            scope = dict(zip(block.inputs, refs))
            self.expand(body, f"{where}(block {block_name})", scope, refs[0] if len(refs) == 1 else None, prefix)
            refs = [Ref(f"{prefix}{block.output}")]
        self.aliases[name] = refs[0].node


def _parse_outputs(raw: Any, path: str, problems: Collector, require_losses: bool) -> dict[str, dict]:
    if isinstance(raw, list):  # a sub-model's outputs need no losses
        raw = {str(name): {} for name in raw}
    outputs = _mapping(raw, path, problems)
    if not outputs:
        problems.add(path, "the model declares no outputs", "add outputs: {<node>: {loss: categorical_crossentropy, metrics: [accuracy]}}")
    for name, spec in outputs.items():
        spec = spec or {}
        outputs[name] = spec
        for key in spec:
            if key not in OUTPUT_KEYS:
                problems.add(f"{path}.{name}.{key}", "not an output key", _hint(key, OUTPUT_KEYS))
        if require_losses and not spec.get("loss"):
            problems.add(f"{path}.{name}.loss", "every output needs a loss", "e.g. loss: categorical_crossentropy")
        metrics = spec.get("metrics", [])
        if not isinstance(metrics, list):
            problems.add(f"{path}.{name}.metrics", f"expected a list, got {metrics!r}")
    return outputs


def _check_loss_weights(raw: Any, graph: Graph, path: str, problems: Collector) -> None:
    if raw is None:
        return
    names = list(graph.outputs)
    if any("loss_weight" in spec for spec in graph.outputs.values()):
        problems.add(f"{path}.loss_weights", "give loss weights either here or as outputs.<name>.loss_weight, not both")
    elif isinstance(raw, list):
        if len(raw) != len(names):
            problems.add(f"{path}.loss_weights", f"{len(raw)} weights for {len(names)} outputs ({', '.join(names)})")
        else:
            for name, weight in zip(names, raw):
                graph.outputs[name]["loss_weight"] = weight
    elif isinstance(raw, dict):
        for name, weight in raw.items():
            if name not in graph.outputs:
                problems.add(f"{path}.loss_weights.{name}", "not an output", _hint(name, names))
            else:
                graph.outputs[name]["loss_weight"] = weight
    else:
        problems.add(f"{path}.loss_weights", f"expected a list (in output order) or a mapping by output name, got {raw!r}")


def _check_wiring(graph: Graph, problems: Collector) -> None:
    names = {n.name: n for n in graph.nodes}
    for name, producer in graph.producers.items():
        if producer not in names:
            problems.add(f"{graph.path}.outputs.{name}", "no node of that name", did_you_mean(name, names))
    cycle = _find_cycle(graph)
    if cycle:
        problems.add(graph.path + ".nodes", "the graph has a cycle: " + " -> ".join(cycle))
        return
    used: set[str] = set()
    stack = [n for n in graph.producers.values() if n in names]
    while stack:
        current = stack.pop()
        if current in used:
            continue
        used.add(current)
        if current in names:
            stack.extend(ref.node for ref in names[current].inputs)
    for node in graph.nodes:
        if node.name not in used:
            problems.add(node.path, "this node's output is never used", "feed it to another node or list it under outputs:")
    for name in graph.inputs:
        if name not in used:
            problems.add(f"{graph.path}.inputs.{name}", "this input is never used")


def _find_cycle(graph: Graph) -> list[str] | None:
    edges = {n.name: [r.node for r in n.inputs] for n in graph.nodes}
    state: dict[str, int] = {}

    def dfs(name: str, trail: list[str]) -> list[str] | None:
        state[name] = 1
        for nxt in edges.get(name, []):
            if state.get(nxt) == 1:
                return trail[trail.index(nxt):] + [name, nxt] if nxt in trail else [name, nxt]
            if nxt in edges and not state.get(nxt):
                found = dfs(nxt, trail + [name])
                if found:
                    return found
        state[name] = 2
        return None

    for name in edges:
        if not state.get(name):
            found = dfs(name, [])
            if found:
                return found
    return None
