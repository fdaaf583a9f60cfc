"""Build a checked `Graph` into a Keras functional model, and compile it.

Layers are called in topological order on `keras.Input`s. Merge shapes are
checked before a merge layer is called, and any Keras error raised while
building is re-raised as a ConfigError naming the node (the Keras text chained).
"""

from __future__ import annotations

from typing import Any

import keras

from dlcli.errors import Collector, ConfigError, Problem, did_you_mean
from dlcli.graph import registry
from dlcli.graph.spec import Graph, Node, Ref, parse

_VALUE_MODULES = {
    "_regularizer": keras.regularizers,
    "_initializer": keras.initializers,
    "_constraint": keras.constraints,
}
_ELEMENTWISE = ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum")


def build(graph: Graph, name: str = "model") -> keras.Model:
    problems = Collector()
    factories = {}
    for node in graph.nodes:
        if not node.shared:
            factory = registry.get(node.target, node.path, problems)
            if factory is not None:
                registry.check_kwargs(factory, node.target, node.kwargs, node.path, problems)
                factories[node.name] = factory
    shared = _shared(graph, problems)
    problems.raise_if_any()

    tensors: dict[str, Any] = {}
    for input_name, spec in graph.inputs.items():
        tensors[input_name] = keras.Input(
            shape=tuple(spec["shape"]), dtype=spec.get("dtype", "float32"), sparse=spec.get("sparse", False), name=input_name
        )
    shared_first_call: dict[str, tuple[str, list]] = {}
    for node in graph.topological():
        args = [_pick(tensors, ref, node) for ref in node.inputs]
        layer = shared[node.target] if node.shared else _instantiate(factories[node.name], node)
        _check_merge(layer, node, args)
        if node.shared:
            _check_shared(node, args, shared_first_call)
        tensors[node.name] = _call(layer, node, args)

    outputs = {out: tensors[producer] for out, producer in graph.producers.items()}
    inputs = [tensors[n] for n in graph.inputs]
    return keras.Model(
        inputs=inputs[0] if len(inputs) == 1 else dict(zip(graph.inputs, inputs)),
        outputs=next(iter(outputs.values())) if len(outputs) == 1 else outputs,
        name=name,
    )


def _shared(graph: Graph, problems: Collector) -> dict[str, Any]:
    """Instances called at several nodes: layers, applications, or sub-models built from a graph."""
    made = {}
    for name, spec in graph.shared.items():
        where = f"{graph.path}.shared.{name}"
        if "model" in spec:
            try:
                made[name] = build(parse(spec["model"], f"{where}.model", require_losses=False), name=name)
            except ConfigError as exc:
                problems.problems.extend(exc.problems)
            continue
        kwargs = {k: v for k, v in spec.items() if k != "class"}
        factory = registry.get(str(spec["class"]), where, problems)
        if factory is None:
            continue
        registry.check_kwargs(factory, str(spec["class"]), kwargs, where, problems)
        if not problems.problems:
            made[name] = _instantiate(factory, Node(name, where, str(spec["class"]), kwargs, []))
    return made


def _resolve_value(key: str, value: Any) -> Any:
    """`kernel_regularizer: {class: L2, l2: 0.01}` -> keras.regularizers.L2(l2=0.01)."""
    if isinstance(value, dict) and "class" in value:
        for suffix, module in _VALUE_MODULES.items():
            if key.endswith(suffix):
                config = {k: v for k, v in value.items() if k != "class"}
                return module.get({"class_name": value["class"], "config": config})
    return value


def _instantiate(factory, node: Node):
    kwargs = {k: _resolve_value(k, v) for k, v in node.kwargs.items()}
    names, _ = registry.accepted(factory)
    if "name" in names or isinstance(factory, type):
        kwargs["name"] = node.name
    try:
        return factory(**kwargs)
    except Exception as exc:
        raise ConfigError(Problem(node.path, f"{node.target}({_fmt_kwargs(node.kwargs)}) failed: {_first_line(exc)}")) from exc


def _pick(tensors: dict, ref: Ref, node: Node):
    value = tensors[ref.node]
    if ref.index is None:
        return value
    if not isinstance(value, (list, tuple)) or ref.index >= len(value):
        count = len(value) if isinstance(value, (list, tuple)) else 1
        raise ConfigError(Problem(f"{node.path}.inputs", f"{ref} asks for output {ref.index} of {ref.node!r}, which has {count} output(s)"))
    return value[ref.index]


def _call(layer, node: Node, args: list):
    try:
        return layer(args if len(args) > 1 or _is_merge(layer) else args[0])
    except ConfigError:
        raise
    except Exception as exc:
        shapes = ", ".join(f"{_shape(a)} from {r.node!r}" for a, r in zip(args, node.inputs))
        raise ConfigError(
            Problem(node.path, f"{node.target} cannot take {shapes}: {_first_line(exc)}", "check the shapes and arguments of this node and its inputs (dlcli check shows every shape)")
        ) from exc


def _is_merge(layer) -> bool:
    return isinstance(layer, keras.layers.Concatenate) or type(layer).__name__ in _ELEMENTWISE


def _shape(tensor) -> str:
    return str(tuple(tensor.shape))


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _fmt_kwargs(kwargs: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items())


def _compatible(a, b) -> bool:
    return a is None or b is None or a == b


def _check_merge(layer, node: Node, args: list) -> None:
    if not _is_merge(layer) or len(args) < 2:
        return
    shapes = [tuple(a.shape) for a in args]
    first, first_ref = shapes[0], node.inputs[0]
    for shape, ref in zip(shapes[1:], node.inputs[1:]):
        if len(shape) != len(first):
            bad = True
        elif isinstance(layer, keras.layers.Concatenate):
            axis = layer.axis % len(first)
            bad = any(not _compatible(x, y) for i, (x, y) in enumerate(zip(first, shape)) if i != axis)
        else:
            bad = any(not (_compatible(x, y) or 1 in (x, y)) for x, y in zip(first, shape))
        if bad:
            verb = type(layer).__name__
            raise ConfigError(
                Problem(node.path, f"cannot {verb} {first} from {first_ref.node!r} with {shape} from {ref.node!r}", _merge_hint(first, shape, verb))
            )


def _merge_hint(a: tuple, b: tuple, verb: str) -> str:
    if len(a) != len(b):
        return "the inputs have different ranks; Flatten or Reshape one of them first"
    if len(a) == 4 and a[1:3] != b[1:3]:
        return "the spatial sizes differ; give the convolutions padding: same (and matching strides)"
    if len(a) >= 2 and a[-1] != b[-1] and verb != "Concatenate":
        return f"the channel counts differ ({a[-1]} vs {b[-1]}); project one side with a 1x1 Conv2D or Dense to the other's size"
    return "make the inputs' shapes agree on every axis but the concatenation axis" if verb == "Concatenate" else "make the inputs' shapes equal"


def _check_shared(node: Node, args: list, first_call: dict) -> None:
    shapes = [tuple(a.shape) for a in args]
    if node.target not in first_call:
        first_call[node.target] = (node.inputs[0].node if node.inputs else "?", shapes)
        return
    where_first, first = first_call[node.target]
    if len(first) != len(shapes) or any(
        len(x) != len(y) or not all(_compatible(p, q) for p, q in zip(x, y)) for x, y in zip(first, shapes)
    ):
        raise ConfigError(
            Problem(
                node.path,
                f"shared {node.target!r} is called with {', '.join(map(str, shapes))} from {node.inputs[0].node!r}, but its weights were built for {', '.join(map(str, first))} from {where_first!r}",
                "a shared layer needs inputs of one shape at every call",
            )
        )


# --- compile ---------------------------------------------------------------------------


def optimizer_from_config(opt: dict[str, Any], where: str = "optimizer"):
    problems = Collector()
    classes = {
        name.lower(): getattr(keras.optimizers, name)
        for name in dir(keras.optimizers)
        if isinstance(getattr(keras.optimizers, name), type) and issubclass(getattr(keras.optimizers, name), keras.optimizers.Optimizer)
    }
    name = str(opt.get("name", "adam"))
    cls = classes.get(name.lower())
    if cls is None or cls is keras.optimizers.Optimizer:
        problems.add(f"{where}.name", f"unknown optimizer {name!r}", did_you_mean(name.lower(), classes) or "valid: " + ", ".join(sorted(classes)))
        problems.raise_if_any()
    kwargs = dict(opt.get("options") or {})
    kwargs["learning_rate"] = _learning_rate(opt.get("learning_rate", 0.001), f"{where}.learning_rate")
    registry.check_kwargs(cls, cls.__name__, kwargs, where + ".options", problems)
    problems.raise_if_any()
    try:
        return cls(**kwargs)
    except Exception as exc:
        raise ConfigError(Problem(where, f"{cls.__name__}({_fmt_kwargs(kwargs)}) failed: {_first_line(exc)}")) from exc


def _learning_rate(value: Any, where: str):
    if isinstance(value, bool) or not isinstance(value, (int, float, dict)):
        raise ConfigError(Problem(where, f"expected a number or a schedule {{class: ExponentialDecay, ...}}, got {value!r}"))
    if not isinstance(value, dict):
        if value <= 0:
            raise ConfigError(Problem(where, f"expected a positive number, got {value!r}"))
        return float(value)
    schedules = {n: getattr(keras.optimizers.schedules, n) for n in dir(keras.optimizers.schedules) if n[:1].isupper()}
    name = str(value.get("class"))
    if name not in schedules:
        raise ConfigError(Problem(f"{where}.class", f"unknown learning-rate schedule {name!r}", did_you_mean(name, schedules) or "valid: " + ", ".join(sorted(schedules))))
    kwargs = {k: v for k, v in value.items() if k != "class"}
    problems = Collector()
    registry.check_kwargs(schedules[name], name, kwargs, where, problems)
    problems.raise_if_any()
    return schedules[name](**kwargs)


def _loss(name: Any, where: str):
    try:
        keras.losses.get(name)
    except Exception:
        known = [n for n in dir(keras.losses) if not n.startswith("_") and n.islower()]
        raise ConfigError(Problem(where, f"unknown loss {name!r}", did_you_mean(str(name), known) or "see https://keras.io/api/losses/")) from None
    return name  # Keras serializes a name better than a function object


def _metric(name: Any, where: str):
    if name in ("accuracy", "acc", "crossentropy", "ce"):  # compile() picks the right variant per loss
        return name
    try:
        keras.metrics.get(name)
    except Exception:
        known = [n for n in dir(keras.metrics) if not n.startswith("_") and n.islower()]
        raise ConfigError(Problem(where, f"unknown metric {name!r}", did_you_mean(str(name), known) or "see https://keras.io/api/metrics/")) from None
    return name


def compile_model(model: keras.Model, graph: Graph, optimizer) -> None:
    where = f"{graph.path}.outputs"
    losses = {n: _loss(s["loss"], f"{where}.{n}.loss") for n, s in graph.outputs.items()}
    metrics = {n: [_metric(m, f"{where}.{n}.metrics") for m in s.get("metrics", [])] for n, s in graph.outputs.items()}
    weights = {n: float(s.get("loss_weight", 1.0)) for n, s in graph.outputs.items()}
    if len(graph.outputs) == 1:
        (name,) = graph.outputs
        model.compile(optimizer=optimizer, loss=losses[name], metrics=metrics[name])
    else:
        model.compile(optimizer=optimizer, loss=losses, loss_weights=weights, metrics=metrics)
