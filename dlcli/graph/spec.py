"""Parse a `model:` config into a flat, checked graph, without importing Keras.

The language (DESIGN.md, "The graph language"): `inputs`, `nodes` (or a plain
`layers` list), `shared` instances, `blocks` templates and `outputs`, every one
a mapping keyed by name so each value has an override path. A node names its
Keras class and passes its other keys as constructor arguments; `class`,
`inputs`, `use`, `block` and `repeat` do the wiring. Every problem is collected
and reported at once, each under the dotted config path where it can be fixed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from typing import Any

from dlcli.errors import Collector, ConfigError, Problem, did_you_mean
from dlcli.foreign import snake_case

MODEL_KEYS = ("name", "inputs", "nodes", "layers", "shared", "blocks", "outputs", "loss", "loss_weights", "metrics")
WIRING = ("class", "inputs", "use", "block", "repeat")
INPUT_KEYS = ("shape", "dtype", "vocab", "sparse")
OUTPUT_KEYS = ("loss", "loss_weight", "metrics")
BLOCK_KEYS = ("params", "inputs", "nodes", "output")
MERGES = ("Concatenate", "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Dot")
REQUIRED = "???"  # a block parameter every instance must set (OmegaConf's "missing" marker)
_REF = re.compile(r"^(?P<node>[^\[\]]+)(\[(?P<index>\d+)\])?$")
_PARAM = re.compile(r"^\$(\w+)$")


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
    path: str  # where it is defined in the config (a block's nodes for block copies)
    target: str  # a class name, or a shared instance's name when `shared` is true
    kwargs: dict[str, Any]
    inputs: list[Ref]
    shared: bool = False
    via: str | None = None  # the block instance that made it, e.g. "model.nodes.stage1, copy 2 of 3"
    # In a block copy, where each "$param" argument's value was set ("kernel_size" -> "model.nodes.stem.kernel_size");
    # nested keys are dotted ("layer.units").
    origins: dict[str, str] = field(default_factory=dict)

    def problem(self, message: str, hint: str | None = None, key: str | None = None) -> Problem:
        """A problem at this node's config path (a block copy also says which instance made it).

        For an argument `key` whose value a block instance passed in, the problem is
        the instance's key (where the value can be fixed), and says which template node failed.
        """
        where = f"{self.path}.{key}" if key else self.path
        if key and key in self.origins and not self.origins[key].startswith(self.path + "."):
            where, message = self.origins[key], f"{message} (at {self.path})"
        return Problem(where, f"{message} [block copy: {self.via}]" if self.via else message, hint)


@dataclass
class Graph:
    inputs: dict[str, dict[str, Any]]
    nodes: list[Node]
    outputs: dict[str, dict[str, Any]]  # output name (= the node producing it) -> {loss, loss_weight, metrics}
    shared: dict[str, Any] = field(default_factory=dict)  # name -> layer spec {class: ...} or a sub-model Graph
    path: str = "model"
    sources: dict[tuple[str, str], str] = field(default_factory=dict)  # (output, key) -> where a model-level key set it

    def source(self, output: str, key: str) -> str:
        """The config path that set an output's loss, loss_weight or metrics."""
        return self.sources.get((output, key), f"{self.path}.outputs.{output}.{key}")

    def node(self, name: str) -> Node | None:
        return next((n for n in self.nodes if n.name == name), None)

    def topological(self) -> list[Node]:
        """Nodes in declaration order, except that each comes after its inputs (checked acyclic).

        Batch by batch: every node whose inputs are all placed, in declaration order,
        then the nodes that frees (the order decides which layer draws which initial weights).
        """
        position = {n.name: i for i, n in enumerate(self.nodes)}
        sorter = TopologicalSorter({n.name: {r.node for r in n.inputs} - set(self.inputs) for n in self.nodes})
        sorter.prepare()  # a CycleError (a ValueError) here: parse() reports cycles first
        order: list[Node] = []
        while sorter.is_active():
            ready = sorted(sorter.get_ready(), key=lambda name: position.get(name, -1))
            order.extend(self.nodes[position[name]] for name in ready if name in position)
            sorter.done(*ready)
        return order

    def ancestors(self, name: str) -> set[str]:
        """Every node `name` depends on (inputs excluded)."""
        by_name = {n.name: n for n in self.nodes}
        seen: set[str] = set()
        stack = [r.node for r in by_name[name].inputs] if name in by_name else []
        while stack:
            current = stack.pop()
            if current in by_name and current not in seen:
                seen.add(current)
                stack.extend(r.node for r in by_name[current].inputs)
        return seen


def parse(model: Any, path: str = "model", *, require_losses: bool = True, blocks: dict | None = None) -> Graph:
    """The checked graph of a `model:` mapping; raises ConfigError listing every problem.

    `require_losses=False` parses a sub-model (a `shared:` entry's `model:`),
    whose outputs are a list of node names; it may use its parent's `blocks`.
    """
    problems = Collector()
    if not isinstance(model, dict) or not model:
        problems.add(path, "no model defined", "pick one with model=NAME or write model: {inputs: ..., nodes: ...}")
        problems.raise_if_any()
    for key in model:
        if key not in MODEL_KEYS:
            problems.add(f"{path}.{key}", "not a model key", _hint(key, MODEL_KEYS))
    missing = [k for k in ("inputs", "nodes", "layers", "outputs") if k not in model]
    if any(did_you_mean(str(k), missing) for k in model if k not in MODEL_KEYS):
        problems.raise_if_any()  # `node:` for `nodes:`: what is missing because of it would only repeat it
    inputs = _parse_inputs(model.get("inputs"), f"{path}.inputs", problems)
    raw_nodes, paths = _raw_nodes(model, path, problems)
    own_blocks = _parse_blocks(model.get("blocks"), f"{path}.blocks", problems)
    all_blocks = {**(blocks or {}), **own_blocks}
    shared = _parse_shared(model.get("shared"), f"{path}.shared", all_blocks, problems)
    expander = _Expander(all_blocks, shared, problems)
    expander.names.update(
        {n: f"{path}.inputs.{n}" for n in inputs} | {n: f"{path}.shared.{n}" for n in shared}
    )  # Keras layers too
    entry = Ref(next(iter(inputs))) if len(inputs) == 1 else None
    expander.expand(raw_nodes, paths, {n: Ref(n) for n in inputs}, entry)
    sources: dict[tuple[str, str], str] = {}
    derived = Collector()
    outputs = _parse_outputs(model, path, derived, require_losses, sources)
    _check_output_names(outputs, expander.nodes, raw_nodes, path, derived, problems)
    graph = Graph(inputs, expander.nodes, outputs, shared, path, sources)
    if not problems.problems:
        _check_wiring(graph, problems)
    raise_unique(problems)
    return graph


def _check_output_names(
    outputs: dict, nodes: list[Node], raw_nodes: dict, path: str, derived: Collector, problems: Collector
) -> None:
    """An output must name a node. A misspelt one is the problem to report: the model-level
    `loss:`/`metrics:`/`loss_weights:` entries keyed by the right name then look like mistakes
    ("not an output of the model"), and the misspelt output like one without a loss; those are dropped."""
    names = [n.name for n in nodes]
    missing = [
        name for name in outputs if name not in names and name not in raw_nodes
    ]  # (a node that failed is reported on its own)
    for name in missing:
        problems.add(
            f"{path}.outputs.{name}",
            f"no node {name!r}",
            did_you_mean(name, names) or "outputs name the nodes that produce them: " + ", ".join(names),
        )
    if missing:
        known = set(names) | set(raw_nodes)
        missing_keys = {f"{path}.outputs.{name}.loss" for name in missing}
        derived.problems = [
            p for p in derived.problems
            if not (p.message == "not an output of the model" and p.key.rsplit(".", 1)[-1] in known) and p.key not in missing_keys
        ]  # fmt: skip
    problems.problems.extend(derived.problems)


def raise_unique(problems: Collector) -> None:
    """Raise once per distinct problem: every copy of a block repeats its definition's mistakes."""
    seen: dict[tuple, Problem] = {}
    for p in problems.problems:
        seen.setdefault((p.key, p.message), p)
    problems.problems = list(seen.values())
    problems.raise_if_any()


def _hint(word: str, options) -> str:
    options = list(options)
    return " ".join(x for x in (did_you_mean(word, options), "valid: " + ", ".join(options) if options else None) if x)


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
            problems.add(
                where, "an input needs a shape", "for example {shape: [784]} or {shape: [null, 128], dtype: int32}"
            )
            continue
        for key in spec:
            if key not in INPUT_KEYS:
                problems.add(f"{where}.{key}", "not an input key", _hint(key, INPUT_KEYS))
        if "/" in name:  # Keras names tensors by scope, where "/" separates
            problems.add(where, f"an input's name cannot contain '/', as {name!r} does", "name it with _ or -")
        if not isinstance(spec.get("sparse", False), bool):
            problems.add(f"{where}.sparse", f"expected true or false, got {spec['sparse']!r}")
        shape = spec["shape"]
        if not isinstance(shape, list) or not all(d is None or (isinstance(d, int) and d > 0) for d in shape):
            problems.add(f"{where}.shape", f"expected a list of positive integers or null, got {shape!r}")
    return inputs


def _raw_nodes(model: dict, path: str, problems: Collector) -> tuple[dict[str, Any], dict[str, str]]:
    """The nodes by name, and each one's config path (`model.nodes.NAME` or `model.layers.INDEX`)."""
    if "nodes" in model and "layers" in model:
        problems.add(path, "give either `nodes` (named) or `layers` (a plain stack), not both")
    if "layers" not in model:
        nodes = _mapping(model.get("nodes"), f"{path}.nodes", problems)
        if not nodes:
            problems.add(path, "the model has no nodes", "add nodes: {name: {class: Dense, units: 10}, ...}")
        return nodes, {name: f"{path}.nodes.{name}" for name in nodes}
    layers = model["layers"]
    if not isinstance(layers, list) or not layers:
        problems.add(f"{path}.layers", "expected a list of layers, e.g. [{class: Dense, units: 10}]")
        return {}, {}
    nodes: dict[str, Any] = {}
    paths: dict[str, str] = {}
    counts: dict[str, int] = {}
    for i, layer in enumerate(layers):
        if not isinstance(layer, dict):
            problems.add(f"{path}.layers.{i}", f"expected a mapping with `class:`, got {layer!r}")
            continue
        layer = dict(layer)
        name = layer.pop("name", None)
        if name is None:  # Keras' own naming: dense, dense_1, ...
            base = snake_case(str(layer.get("class") or layer.get("block") or layer.get("use") or "layer"))
            counts[base] = counts.get(base, 0) + 1
            name = base if counts[base] == 1 else f"{base}_{counts[base] - 1}"
        if "inputs" in layer:
            problems.add(
                f"{path}.layers.{i}.inputs",
                "a `layers:` stack feeds each layer the previous one",
                "use `nodes:` to wire inputs by name",
            )
        if str(name) in nodes:
            problems.add(f"{path}.layers.{i}.name", f"{name!r} names two layers")
        nodes[str(name)] = layer
        paths[str(name)] = f"{path}.layers.{i}"
    return nodes, paths


@dataclass
class _Block:
    name: str
    path: str
    params: dict[str, Any]
    inputs: list[str]
    nodes: dict[str, Any]
    output: str


def _parse_blocks(raw: Any, path: str, problems: Collector) -> dict[str, _Block]:
    blocks = {}
    for name, spec in _mapping(raw, path, problems).items():
        where = f"{path}.{name}"
        if not isinstance(spec, dict) or not isinstance(spec.get("nodes"), dict) or not spec["nodes"]:
            problems.add(where, "a block needs `nodes:` (and may declare `params:`, `inputs:`, `output:`)")
            continue
        for key in spec:
            if key not in BLOCK_KEYS:
                problems.add(f"{where}.{key}", "not a block key", _hint(key, BLOCK_KEYS))
        params = _mapping(spec.get("params"), f"{where}.params", problems)
        block_inputs = spec.get("inputs", ["x"])
        block_inputs = [block_inputs] if isinstance(block_inputs, str) else block_inputs
        if not isinstance(block_inputs, list) or not block_inputs or not all(isinstance(i, str) for i in block_inputs):
            problems.add(
                f"{where}.inputs",
                f"expected the names the block's nodes call its inputs, e.g. [x], got {block_inputs!r}",
            )
            continue
        output = spec.get("output", list(spec["nodes"])[-1])
        if output not in spec["nodes"]:
            problems.add(
                f"{where}.output", f"{output!r} is not a node of the block", did_you_mean(output, spec["nodes"])
            )
        for used in sorted(_param_refs(spec["nodes"]) - set(params)):
            problems.add(
                f"{where}.nodes",
                f"${used} is not a parameter of block {name!r}",
                _hint(used, params) if params else "declare it: params: {" + used + ": <default or ???>}",
            )
        blocks[name] = _Block(name, where, dict(params), block_inputs, spec["nodes"], output)
    return blocks


def _param_refs(value: Any) -> set[str]:
    if isinstance(value, str):
        match = _PARAM.match(value)
        return {match[1]} if match else set()
    if isinstance(value, dict):
        return set().union(*(_param_refs(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_param_refs(v) for v in value)) if value else set()
    return set()


def _substitute(value: Any, params: dict[str, Any]) -> Any:
    """Replace "$name" strings with block parameter values, recursively."""
    if isinstance(value, str):
        match = _PARAM.match(value)
        return params[match[1]] if match and match[1] in params else value
    if isinstance(value, list):
        return [_substitute(v, params) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, params) for k, v in value.items()}
    return value


def _origins(value: Any, set_at: dict[str, str], at: str = "") -> dict[str, str]:
    """{dotted key inside `value`: where its value was set} for each "$param" in it."""
    if isinstance(value, str):
        match = _PARAM.match(value)
        return {at: set_at[match[1]]} if match and match[1] in set_at and at else {}
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    found: dict[str, str] = {}
    for key, item in items:
        found.update(_origins(item, set_at, f"{at}.{key}" if at else str(key)))
    return found


def _parse_shared(raw: Any, path: str, blocks: dict[str, _Block], problems: Collector) -> dict[str, Any]:
    shared: dict[str, Any] = {}
    for name, spec in _mapping(raw, path, problems).items():
        where = f"{path}.{name}"
        if not isinstance(spec, dict) or ("class" in spec) == ("model" in spec):
            problems.add(
                where,
                "a shared entry needs either `class:` (a layer or keras.applications model) or `model:` (a graph)",
            )
        elif "model" in spec:
            if len(spec) > 1:
                problems.add(
                    where, f"a shared `model:` takes no other keys ({', '.join(k for k in spec if k != 'model')})"
                )
            try:
                shared[name] = parse(spec["model"], f"{where}.model", require_losses=False, blocks=blocks)
            except ConfigError as exc:
                problems.problems.extend(exc.problems)
        else:
            for key in ("inputs", "use", "block", "repeat"):
                if key in spec:
                    problems.add(f"{where}.{key}", "a shared entry is an instance; wire it where a node `use:`s it")
            shared[name] = spec
    return shared


class _Expander:
    """Turns nodes, `use:` calls and `block:` instances (with `repeat:`) into a flat node list.

    Names may refer forward (a mapping's order is not a promise of topology).
    A block instance's nodes are named `<instance>_<node>` (`<instance>_<k>_<node>`
    when repeated), except its output node, which takes the instance's own name.
    """

    def __init__(self, blocks: dict[str, _Block], shared: dict, problems: Collector):
        self.blocks, self.shared, self.problems = blocks, shared, problems
        self.nodes: list[Node] = []
        self.names: dict[str, str] = {}  # layer name -> where it was defined, to catch clashes
        self.stack: list[str] = []  # blocks being expanded, to catch a block that contains itself

    def expand(
        self,
        raw: dict,
        paths: dict[str, str],
        scope: dict[str, Ref],
        entry: Ref | None,
        prefix: str = "",
        rename: dict | None = None,
        via: str | None = None,
        origins: dict | None = None,
    ) -> None:
        """Add the nodes of `raw` (config paths in `paths`), seeing the names in `scope` and each other.

        `origins` says, per node of a block copy, where its "$param" arguments were set.
        """
        rename = rename or {}
        origins = origins or {}
        full = {name: rename.get(name, f"{prefix}{name}") for name in raw}
        local = {**scope, **{name: Ref(full[name]) for name in raw}}
        previous = entry
        for name, spec in raw.items():
            where = paths[name]
            if not isinstance(spec, dict):
                self.problems.add(where, f"expected a mapping with `class:`, `use:` or `block:`, got {spec!r}")
                continue
            kinds = [k for k in ("class", "use", "block") if k in spec]
            if len(kinds) != 1:
                self.problems.add(
                    where,
                    "a node needs exactly one of `class:`, `use:` or `block:`",
                    self._no_kind_hint(name, kinds, raw),
                )
                continue
            # A node naming itself resolves to itself: the cycle check reports it as `name -> name`.
            refs = self._refs(spec.get("inputs"), previous, where, local)
            if kinds[0] == "block":
                self._instantiate(spec, where, refs, full[name], via, origins.get(name, {}))
            else:
                self._plain(spec, kinds[0], where, refs, full[name], via, origins.get(name, {}))
            previous = Ref(full[name])

    @staticmethod
    def _no_kind_hint(name: str, kinds: list[str], raw: dict) -> str:
        """A node with no class is usually an override that misspelt an existing node (`+model.nodes.dense1.x=...`)."""
        if not kinds:
            others = [
                n
                for n, s in raw.items()
                if n != name and isinstance(s, dict) and any(k in s for k in ("class", "use", "block"))
            ]
            close = did_you_mean(name, others)
            if close:
                return f"no node {name!r} in the recipe: {close}"
        return "e.g. {class: Dense, units: 64}"

    def _add(self, node: Node) -> None:
        if node.name in self.names:
            self.problems.problems.append(
                node.problem(
                    f"the layer name {node.name!r} is already taken by {self.names[node.name]}", "rename one of them"
                )
            )
        self.names.setdefault(node.name, node.path)
        self.nodes.append(node)

    def _refs(self, raw: Any, previous: Ref | None, where: str, local: dict[str, Ref]) -> list[Ref]:
        if raw is None:
            if previous is None:
                self.problems.add(
                    f"{where}.inputs",
                    "no input given and there is no single previous node",
                    "name it: inputs: <input or node>",
                )
                return []
            return [previous]
        refs = []
        for item in raw if isinstance(raw, list) else [raw]:
            match = _REF.match(str(item))
            if not match:
                self.problems.add(f"{where}.inputs", f"{item!r} is not a node name or node[i]")
            elif match["node"] not in local:
                others = [name for name in local if name != where.rpartition(".")[2]]  # not the node itself
                self.problems.add(
                    f"{where}.inputs",
                    f"no input or node produces {match['node']!r}",
                    did_you_mean(match["node"], others) or "inputs and nodes: " + ", ".join(others),
                )
            else:
                target = local[match["node"]]
                refs.append(Ref(target.node, int(match["index"]) if match["index"] else target.index))
        return refs

    def _plain(
        self, spec: dict, kind: str, where: str, refs: list[Ref], name: str, via: str | None, origins: dict[str, str]
    ) -> None:
        kwargs = {k: v for k, v in spec.items() if k not in WIRING}
        if "repeat" in spec:
            self.problems.add(
                f"{where}.repeat", "`repeat:` applies to `block:` nodes", "wrap the layer in a block to repeat it"
            )
        if kind == "use":
            target = str(spec["use"])
            if target not in self.shared:
                self.problems.add(
                    f"{where}.use",
                    f"no shared instance {target!r}",
                    did_you_mean(target, self.shared) or f"shared: {', '.join(self.shared) or '(none)'}",
                )
            if kwargs:
                self.problems.add(
                    where,
                    f"a `use:` node shares {target!r} as configured in `shared:`; it takes no arguments ({', '.join(kwargs)})",
                )
            self._add(Node(name, where, target, {}, refs, shared=True, via=via))
        else:
            if spec["class"] in MERGES and _count(spec.get("inputs"), refs) < 2:
                self.problems.add(
                    f"{where}.inputs", f"{spec['class']} merges two or more inputs", "list them: inputs: [a, b]"
                )
            if "name" in kwargs:
                self.problems.add(f"{where}.name", "the node's key is the layer's name; remove `name:`")
            self._add(Node(name, where, str(spec["class"]), kwargs, refs, via=via, origins=origins))

    def _instantiate(
        self, spec: dict, where: str, refs: list[Ref], name: str, via: str | None, origins: dict[str, str]
    ) -> None:
        block_name = str(spec["block"])
        block = self.blocks.get(block_name)
        if block is None:
            self.problems.add(
                f"{where}.block",
                f"no block {block_name!r}",
                did_you_mean(block_name, self.blocks) or f"blocks: {', '.join(self.blocks) or '(none)'}",
            )
            return
        if block_name in self.stack:
            self.problems.add(f"{where}.block", "a block contains itself: " + " -> ".join([*self.stack, block_name]))
            return
        args = {k: v for k, v in spec.items() if k not in WIRING}
        problems_before = len(self.problems.problems)
        for key in args:
            if key not in block.params:
                self.problems.add(
                    f"{where}.{key}",
                    f"block {block_name!r} has no parameter {key!r}",
                    _hint(key, block.params) if block.params else "it declares no params",
                )
        values = {**block.params, **args}
        for key, value in values.items():
            if value == REQUIRED:
                self.problems.add(where, f"block {block_name!r} needs {key}", f"add {key}: <value> to this node")
        repeat = spec.get("repeat", 1)
        if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
            self.problems.add(f"{where}.repeat", f"expected a positive integer, got {repeat!r}")
        elif _count(spec.get("inputs"), refs) != len(block.inputs):
            given = _count(spec.get("inputs"), refs)
            self.problems.add(
                f"{where}.inputs",
                f"block {block_name!r} takes {len(block.inputs)} input(s) ({', '.join(block.inputs)}), got {given}",
            )
        elif repeat > 1 and len(block.inputs) != 1:
            self.problems.add(f"{where}.repeat", "only single-input blocks can be repeated (each copy feeds the next)")
        if len(self.problems.problems) > problems_before or len(refs) != len(block.inputs):
            return  # (an input that did not resolve has been reported)
        body = _substitute(block.nodes, values)
        # Where each parameter's value was set: this instance's own key (or, when the instance sits in
        # another block, wherever that block's parameter was set), else the block's default.
        set_at = {
            key: origins.get(key, f"{where}.{key}") if key in args else f"{block.path}.params.{key}" for key in values
        }
        body_origins = {n: _origins(block.nodes[n], set_at) for n in body}
        self.stack.append(block_name)
        for k in range(1, repeat + 1):
            last = k == repeat
            prefix = f"{name}_" if repeat == 1 else f"{name}_{k}_"
            context = where if repeat == 1 else f"{where}, copy {k} of {repeat}"
            self.expand(
                body,
                {n: f"{block.path}.nodes.{n}" for n in body},
                dict(zip(block.inputs, refs)),
                refs[0] if len(refs) == 1 else None,
                prefix,
                rename={block.output: name} if last else None,
                via=context if via is None else f"{context} in {via}",
                origins=body_origins,
            )
            refs = [Ref(name if last else f"{prefix}{block.output}")]
        self.stack.pop()


def _count(given: Any, refs: list[Ref]) -> int:
    """How many inputs a node names (resolved or not: a misspelt one is reported on its own)."""
    return len(refs) if given is None else len(given) if isinstance(given, list) else 1


def _parse_outputs(model: dict, path: str, problems: Collector, require_losses: bool, sources: dict) -> dict[str, dict]:
    """Outputs with their loss, loss weight and metrics, model-level `loss:`/`loss_weights:`/`metrics:` merged in.

    The model-level keys mirror `model.compile(loss=..., loss_weights=..., metrics=...)`:
    one value for every output, a list in output order (weights), or a mapping by output name.
    """
    where = f"{path}.outputs"
    raw = model.get("outputs")
    if isinstance(raw, list):  # [name, ...]: losses come from the model-level keys
        raw = {str(name): {} for name in raw}
    outputs = {name: dict(spec or {}) for name, spec in _mapping(raw, where, problems).items()}
    if not outputs:
        problems.add(
            where,
            "the model declares no outputs",
            "add outputs: {<node>: {loss: categorical_crossentropy, metrics: [accuracy]}}",
        )
    for name, spec in outputs.items():
        for key in spec:
            if key not in OUTPUT_KEYS:
                problems.add(f"{where}.{name}.{key}", "not an output key", _hint(key, OUTPUT_KEYS))
    if not require_losses:
        for key in ("loss", "loss_weights", "metrics"):
            if key in model:
                problems.add(
                    f"{path}.{key}",
                    "a sub-model is not compiled: losses, weights and metrics belong to the outer model",
                )
        for name, spec in outputs.items():
            for key in spec:
                problems.add(
                    f"{where}.{name}.{key}", "a sub-model is not compiled: give its outputs as a list of node names"
                )
        return outputs
    spread = {"outputs": outputs, "problems": problems, "sources": sources}
    _spread(
        model.get("loss"),
        "loss",
        f"{path}.loss",
        one=lambda v: isinstance(v, str) or (isinstance(v, dict) and "class" in v),
        by_order=True,
        **spread,
    )
    _spread(
        model.get("loss_weights"), "loss_weight", f"{path}.loss_weights", one=lambda v: False, by_order=True, **spread
    )
    _spread(model.get("metrics"), "metrics", f"{path}.metrics", one=lambda v: isinstance(v, list), **spread)
    loss_reported = any(p.key == f"{path}.loss" for p in problems.problems)
    for name, spec in outputs.items():
        if not spec.get("loss") and not loss_reported:  # (a wrong model.loss is the one problem)
            problems.add(
                f"{where}.{name}.loss",
                "every output needs a loss",
                "e.g. loss: categorical_crossentropy (here or in model.loss)",
            )
        metrics = spec.get("metrics", [])
        if not isinstance(metrics, list):
            problems.add(
                f"{where}.{name}.metrics",
                f"expected a list, got {metrics!r}",
                f"metrics: [{metrics}]" if isinstance(metrics, str) else None,
            )
        weight = spec.get("loss_weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
            problems.add(f"{where}.{name}.loss_weight", f"expected a non-negative number, got {weight!r}")
    return outputs


def _spread(
    raw: Any,
    key: str,
    where: str,
    *,
    outputs: dict[str, dict],
    problems: Collector,
    sources: dict,
    one,
    by_order: bool = False,
) -> None:
    """Apply a model-level value to the outputs: one value for all, a list by order, or a mapping by name."""
    if raw is None:
        return
    names = list(outputs)
    if one(raw):  # a default: outputs' own values win
        given = {name: (raw, where) for name in names if key not in outputs[name]}
        if names and not given:  # a default that reaches no output was surely meant to change something
            outputs_path = f"{where.rsplit('.', 1)[0]}.outputs"
            problems.add(
                where,
                f"every output sets its own {key}, so this applies to none of them",
                f"set {outputs_path}.<name>.{key} (for {', '.join(names)}), or remove theirs",
            )
            return
    elif by_order and isinstance(raw, list):
        if len(raw) != len(names):
            problems.add(
                where,
                f"{len(raw)} values for {len(names)} outputs ({', '.join(names)})",
                "give one per output, in the order of model.outputs, or a mapping by output name",
            )
            return
        given = {name: (value, f"{where}.{i}") for i, (name, value) in enumerate(zip(names, raw))}
    elif isinstance(raw, dict):
        given = {}
        for name, value in raw.items():
            if name not in outputs:
                problems.add(f"{where}.{name}", "not an output of the model", _hint(name, names))
            else:
                given[name] = (value, f"{where}.{name}")
    else:
        problems.add(
            where,
            f"expected {'a list in output order or ' if by_order else 'one value for every output or '}a mapping by output name, got {raw!r}",
        )
        return
    for name, (value, origin) in given.items():
        if key in outputs[name]:
            problems.add(
                origin, f"set twice: here and in {where.rsplit('.', 1)[0]}.outputs.{name}.{key}", "keep one of them"
            )
        else:
            outputs[name][key] = value
            sources[(name, key)] = origin


def _check_wiring(graph: Graph, problems: Collector) -> None:
    names = {n.name: n for n in graph.nodes}
    missing = [name for name in graph.outputs if name not in names]  # (reported by _check_output_names)
    cycle = _find_cycle(graph)
    if cycle:
        problems.add(
            f"{graph.path}.nodes",
            "the graph has a cycle: " + " -> ".join(cycle),
            "a node cannot depend on its own output",
        )
        return
    if missing:  # every node would look unused; the misspelt output is the one problem
        return
    used = set(graph.outputs)
    for name in graph.outputs:
        used |= graph.ancestors(name)
    inputs_used = {r.node for n in graph.nodes if n.name in used for r in n.inputs}
    for node in graph.nodes:
        if node.name not in used:
            problems.problems.append(
                node.problem("this node's output is never used", "feed it to another node or list it under outputs:")
            )
    for name in graph.inputs:
        if name not in inputs_used:
            problems.add(f"{graph.path}.inputs.{name}", "this input is never used", "feed it to a node, or remove it")
    calls = {n.target for n in graph.nodes if n.shared}
    for name in graph.shared:
        if name not in calls:
            problems.add(
                f"{graph.path}.shared.{name}",
                "no node uses this shared instance",
                f"call it from a node: {{use: {name}, inputs: ...}}",
            )


def _find_cycle(graph: Graph) -> list[str] | None:
    """A cycle of nodes in data-flow order (the first node repeated at the end), or None.

    The sorter is given the edges reversed, from each node to its inputs, nodes in
    declaration order: its search then meets the cycle a reader of the config meets
    first, going from a node up to its inputs, and this turns it back into data flow.
    """
    sorter: TopologicalSorter[str] = TopologicalSorter()
    for node in graph.nodes:
        sorter.add(node.name)
    for node in graph.nodes:
        for ref in node.inputs:
            sorter.add(ref.node, node.name)
    try:
        sorter.prepare()
    except CycleError as exc:
        return list(reversed(exc.args[1]))
    return None
