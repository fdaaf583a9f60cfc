"""Build a checked `Graph` into a Keras functional model, and compile it.

First every node's class, keyword arguments and named values (regularizers,
initializers, ...) are resolved, all problems collected. Then layers are called
in topological order on `keras.Input`s: merge shapes and shared layers' shapes
are checked before the call, and any Keras error raised while building is
re-raised as a ConfigError naming the node (the Keras text chained).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable

import keras

from dlcli import foreign
from dlcli.errors import Collector, ConfigError, Problem, did_you_mean
from dlcli.graph import registry
from dlcli.graph.spec import WIRING, Graph, Node, Ref, raise_unique

_ELEMENTWISE = (
    keras.layers.Add,
    keras.layers.Subtract,
    keras.layers.Multiply,
    keras.layers.Average,
    keras.layers.Maximum,
    keras.layers.Minimum,
)


# Keras' dtypes an input is commonly given: for a did-you-mean (Keras itself decides what is valid).
_DTYPES = ("float32", "int32", "int64", "string", "float16", "bfloat16", "float64", "int8", "int16", "uint8", "bool")


def build(graph: Graph, name: str = "model", as_layer: bool = False) -> keras.Model:
    """The functional model of `graph`. `as_layer` builds a sub-model: outputs as a list, for `node[i]`."""
    problems = Collector()
    prepared = _prepare(graph, problems)
    shared = _shared(graph, problems)
    raise_unique(problems)

    tensors: dict[str, Any] = {}
    for input_name, spec in graph.inputs.items():
        dtype = spec.get("dtype", "float32")
        try:
            keras.backend.standardize_dtype(dtype)
        except ValueError:
            problems.add(
                f"{graph.path}.inputs.{input_name}.dtype",
                f"unknown dtype {dtype!r}",
                did_you_mean(str(dtype), _DTYPES) or f"e.g. {', '.join(_DTYPES[:4])}",
            )
            continue
        tensors[input_name] = keras.Input(
            shape=tuple(spec["shape"]), dtype=dtype, sparse=spec.get("sparse", False), name=input_name
        )
    problems.raise_if_any()
    first_calls: dict[str, tuple[Node, list]] = {}
    for node in graph.topological():
        args = [_pick(tensors, ref, node) for ref in node.inputs]
        if node.shared:
            layer = shared[node.target]
            _check_shared(layer, node, args, first_calls)
        else:
            factory, kwargs = prepared[node.name]
            layer = _instantiate(factory, kwargs, node)
            _check_merge(graph, prepared, layer, node, args)
        tensors[node.name] = _call(layer, node, args)

    inputs = [tensors[n] for n in graph.inputs]
    outputs = [tensors[n] for n in graph.outputs]
    try:
        return keras.Model(
            inputs=inputs[0] if len(inputs) == 1 else inputs,  # a list keeps the declared order
            outputs=outputs
            if as_layer and len(outputs) > 1
            else outputs[0]
            if len(outputs) == 1
            else dict(zip(graph.outputs, outputs)),
            name=name,
        )
    except Exception as exc:
        raise ConfigError(Problem(graph.path, f"Keras cannot make a model of this graph: {_keras_text(exc)}")) from exc


def _prepare(graph: Graph, problems: Collector) -> dict[str, tuple[Callable, dict]]:
    """node name -> (constructor, keyword arguments with named values resolved)."""
    prepared = {}
    for node in graph.nodes:
        if node.shared:
            continue
        factory = registry.get(node.target, node.path, problems)
        if factory is not None:
            registry.check_kwargs(factory, node.target, node.kwargs, node.path, problems)
            prepared[node.name] = (factory, _resolve_values(node.kwargs, node.path, problems))
    return prepared


def _resolve_values(kwargs: dict[str, Any], where: str, problems: Collector) -> dict[str, Any]:
    """`kernel_regularizer: {class: L2, l2: 0.01}` -> keras.regularizers.L2(l2=0.01); names checked.

    Any other argument given as `{class: ..., ...}` (or a list of them) is a layer the
    layer takes as an argument, like Bidirectional's `layer`: checked like a node here,
    built with its wrapper (`_Inner`).
    """
    resolved = {}
    for key, value in kwargs.items():
        kind = registry.kind_of(key)
        try:
            if kind and value is not None:
                resolved[key] = registry.component(kind, value, f"{where}.{key}")
            elif _is_layer_spec(value):
                resolved[key] = _inner(value, f"{where}.{key}", problems)
            elif isinstance(value, list) and value and all(_is_layer_spec(v) for v in value):
                resolved[key] = [_inner(v, f"{where}.{key}.{i}", problems) for i, v in enumerate(value)]
            else:
                resolved[key] = value
        except ConfigError as exc:
            problems.problems.extend(exc.problems)
    return resolved


@dataclass
class _Inner:
    """A layer given as another layer's argument (`layer: {class: GRU, units: 8}`), built when its wrapper is."""

    factory: Callable
    target: str
    kwargs: dict[str, Any]  # resolved
    raw: dict[str, Any]  # as configured, for messages


def _is_layer_spec(value: Any) -> bool:
    return isinstance(value, dict) and "class" in value


def _inner(spec: dict, where: str, problems: Collector) -> _Inner | None:
    target = str(spec["class"])
    raw = {k: v for k, v in spec.items() if k != "class"}
    for key in WIRING[1:]:
        if key in raw:
            problems.add(
                f"{where}.{key}",
                f"a layer given as an argument is built inside the layer that takes it; `{key}:` does not apply",
                "wire the outer node instead",
            )
            del raw[key]
    if "name" in raw:
        problems.add(f"{where}.name", "an inner layer is named after its node and argument; remove `name:`")
        del raw["name"]
    factory = registry.get(target, where, problems)
    if factory is None:
        return None
    registry.check_kwargs(factory, target, raw, where, problems)
    return _Inner(factory, target, _resolve_values(raw, where, problems), raw)


def _build_inner(value: Any, node: Node, key: str) -> Any:
    """Build the `_Inner` layers inside an argument value, each named `<node>_<argument>`."""
    if isinstance(value, list):
        return [_build_inner(v, node, f"{key}.{i}") for i, v in enumerate(value)]
    if not isinstance(value, _Inner):
        return value
    kwargs = {k: _build_inner(v, node, f"{key}.{k}") for k, v in value.kwargs.items()}
    try:
        return value.factory(**kwargs, name=f"{node.name}_{key.replace('.', '_')}")
    except ConfigError:
        raise
    except Exception as exc:
        text = _keras_text(exc)
        blamed = _argument_named(text, value.raw)
        message = f"{value.target}({_fmt_kwargs(value.raw)}) failed: {text}"
        raise ConfigError(node.problem(message, key=f"{key}.{blamed}" if blamed else key)) from exc


def _shared(graph: Graph, problems: Collector) -> dict[str, Any]:
    """Instances called at several nodes: layers, applications, or sub-models built from a graph."""
    made = {}
    for name, spec in graph.shared.items():
        where = f"{graph.path}.shared.{name}"
        try:
            if isinstance(spec, Graph):
                made[name] = build(spec, name=name, as_layer=True)
                continue
            cls = str(spec["class"])
            kwargs = {k: v for k, v in spec.items() if k != "class"}
            factory = registry.get(cls, where, problems)
            if factory is not None:
                registry.check_kwargs(factory, cls, kwargs, where, problems)
                resolved = _resolve_values(kwargs, where, problems)
                if not problems.problems:
                    made[name] = _instantiate(factory, resolved, Node(name, where, cls, kwargs, []))
        except ConfigError as exc:
            problems.problems.extend(exc.problems)
    return made


def _instantiate(factory: Callable, kwargs: dict[str, Any], node: Node):
    application = registry.is_application(factory)
    if application:
        kwargs = {"weights": None, **kwargs}  # pretrained weights only when asked for
    kwargs = {k: _build_inner(v, node, k) for k, v in kwargs.items()}
    names, _ = registry.accepted(factory)
    if "name" in names or isinstance(factory, type):
        kwargs = {**kwargs, "name": node.name}
    try:
        return factory(**kwargs)
    except Exception as exc:
        hint = None
        if application and kwargs.get("weights"):
            hint = "pretrained weights are downloaded on first use; without network use weights: null, or pass weights: /path/to/weights.h5"
        text = _keras_text(exc)
        message = f"{node.target}({_fmt_kwargs(node.kwargs)}) failed: {text}"
        key = _argument_named(text, node.kwargs)
        if (
            key is None and "'str'" in text
        ):  # LSTM(units='abc') compares a str: the text given where a number is required
            texts = [k for k in sorted(registry.accepted(factory)[1]) if isinstance(node.kwargs.get(k), str)]
            if len(texts) == 1:
                key, hint = texts[0], f"{texts[0]} takes a number, not {node.kwargs[texts[0]]!r}"
        raise ConfigError(node.problem(message, hint, key=key)) from exc


def _argument_named(text: str, kwargs: dict[str, Any]) -> str | None:
    """The given keyword a Keras error is about ("invalid value for `units`", "Received kernel_size=-1"), if any.

    Quoted (`units`) or assigned (units=) mentions win over a bare word; the earliest one in the text wins.
    """
    for patterns in ((r"`{}`", r"(?<![\w.]){}="), (r"(?<![\w.]){}(?!\w)",)):
        found = []
        for key in kwargs:
            for pattern in patterns:
                match = re.search(pattern.format(re.escape(str(key))), text)
                if match:
                    found.append((match.start(), str(key)))
        if found:
            return min(found)[1]
    return None


def _pick(tensors: dict, ref: Ref, node: Node):
    value = tensors[ref.node]
    if ref.index is None:
        return value
    if not isinstance(value, (list, tuple)) or ref.index >= len(value):
        count = len(value) if isinstance(value, (list, tuple)) else 1
        raise ConfigError(
            node.problem(
                f"{ref} asks for output {ref.index} of {ref.node!r}, which has {count} output(s)", key="inputs"
            )
        )
    return value[ref.index]


def _call(layer, node: Node, args: list):
    try:
        return layer(args if len(args) > 1 or _is_merge(layer) else args[0])
    except Exception as exc:
        split = foreign.sharding_indivisible(exc)
        if split is not None:
            hint = f"make that dimension a multiple of {split[1]}, or give it null in distribution.layout's rule"
            raise ConfigError(node.problem(f"{node.target}: {split[0]}", hint)) from exc
        shapes = ", ".join(f"{_shape(a)} from {r.node!r}" for a, r in zip(args, node.inputs))
        hint = "check the shapes and arguments of this node and its inputs (dlcli check shows every shape)"
        several = next(((a, r) for a, r in zip(args, node.inputs) if isinstance(a, (list, tuple))), None)
        if several is not None:  # an LSTM with return_state, a sub-model with two outputs
            outputs, ref = several
            hint = f"{ref.node!r} gives {len(outputs)} outputs: take one as inputs: {ref.node}[0] (up to {ref.node}[{len(outputs) - 1}])"
        raise ConfigError(node.problem(f"{node.target} cannot take {shapes}: {_keras_text(exc)}", hint)) from exc


def _is_merge(layer) -> bool:
    return isinstance(layer, (keras.layers.Concatenate, *_ELEMENTWISE))


def _dims(tensor) -> tuple:
    """A tensor's shape; for a layer's several outputs, the tuple of their shapes."""
    return tuple(_dims(t) for t in tensor) if isinstance(tensor, (list, tuple)) else tuple(tensor.shape)


def _shape(tensor) -> str:
    if isinstance(tensor, (list, tuple)):
        return "[" + ", ".join(_shape(t) for t in tensor) + "]"
    return str(tuple(tensor.shape))


def _keras_text(exc: Exception) -> str:
    """The informative line of a Keras error: see dlcli.foreign.keras_text."""
    from dlcli.foreign import keras_text

    return keras_text(exc)


def _fmt_kwargs(kwargs: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items())


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


# --- checks before a call ---------------------------------------------------------------


def _mergeable(layer, a: tuple, b: tuple) -> bool:
    if len(a) != len(b):
        return False
    if isinstance(layer, keras.layers.Concatenate):
        axis = layer.axis % len(a)
        return all(x is None or y is None or x == y for i, (x, y) in enumerate(zip(a, b)) if i != axis)
    return all(x is None or y is None or x == y or 1 in (x, y) for x, y in zip(a, b))


def _check_merge(graph: Graph, prepared: dict, layer, node: Node, args: list) -> None:
    if not _is_merge(layer) or len(args) < 2 or any(isinstance(a, (list, tuple)) for a in args):
        return  # (an input of several outputs fails in _call, which says to pick one)
    shapes = [tuple(a.shape) for a in args]
    bad = [i for i in range(1, len(shapes)) if not _mergeable(layer, shapes[0], shapes[i])]
    if not bad:
        return
    verb = type(layer).__name__
    others = _join([f"{shapes[i]} from {node.inputs[i].node!r}" for i in bad])
    message = f"cannot {verb} {shapes[0]} from {node.inputs[0].node!r} with {others}"
    raise ConfigError(node.problem(message, _merge_hint(graph, prepared, node, shapes[0], shapes[bad[0]], verb)))


def _merge_hint(graph: Graph, prepared: dict, node: Node, a: tuple, b: tuple, verb: str) -> str:
    if len(a) != len(b):
        return "the inputs have different ranks; Flatten or Reshape one of them first"
    if len(a) >= 3 and a[1:-1] != b[1:-1]:
        strided = _downsampling(graph, prepared, node)
        unpadded = [n for n in _unpadded_windows(graph, prepared, node) if n not in strided]
        if strided:
            nodes = _join([f"{n} ({prepared[n][0].__name__}, {how})" for n, how in strided.items()])
            them = "it" if len(strided) == 1 else "them"
            also = f"; and give the convolutions padding: same (now 'valid' on {_join(unpadded)})" if unpadded else ""
            return f"the spatial sizes differ; {nodes} shrink{'s' if len(strided) == 1 else ''} one branch more than the others: downsample every branch alike, or give {them} strides: 1 and padding: same{also}"
        where = f" (now 'valid' on {_join(unpadded)})" if unpadded else " and matching strides"
        return f"the spatial sizes differ; give the convolutions padding: same{where}"
    if a[-1] != b[-1] and verb != "Concatenate":
        return f"the channel counts differ ({a[-1]} vs {b[-1]}); project one side to the other's size (a 1x1 Conv2D or a Dense)"
    return (
        "make the inputs' shapes agree on every axis but the concatenation axis"
        if verb == "Concatenate"
        else "make the inputs' shapes equal"
    )


def _stride(factory: Callable, kwargs: dict) -> tuple[int, str] | None:
    """A node's largest stride and how it is set ("strides 2", "pool_size 2": a pooling's strides default to its pool size)."""
    accepted = registry.accepted(factory)[0]
    if "strides" not in accepted:
        return None
    key = "strides" if kwargs.get("strides") is not None or "pool_size" not in accepted else "pool_size"
    value = kwargs.get(key, 2 if key == "pool_size" else 1)  # Keras' poolings default to pool_size 2
    step = max(value) if isinstance(value, (list, tuple)) else value
    return (
        (step, f"{key} {value if not isinstance(value, list) else tuple(value)}")
        if isinstance(step, int) and step > 1
        else None
    )


def _downsampling(graph: Graph, prepared: dict, node: Node) -> dict[str, str]:
    """Strided convolutions and poolings that make the merged branches' sizes differ: name -> "strides 2".

    Each branch's downsampling factor is the product of the strides on its way from where
    the branches split; when the factors agree (every branch strides by 2), strides are not
    the cause and this returns nothing.
    """
    by_name = {n.name: n for n in graph.nodes}
    branches = [graph.ancestors(r.node) | {r.node} for r in node.inputs]
    common = set.intersection(*branches)
    factors: dict[str, int] = {}

    def factor(name: str) -> int:
        if name in common or name not in by_name:
            return 1
        if name not in factors:
            own = _stride(*prepared[name]) if name in prepared else None
            factors[name] = (own[0] if own else 1) * max([factor(r.node) for r in by_name[name].inputs] or [1])
        return factors[name]

    per_branch = [factor(r.node) for r in node.inputs]
    if len(set(per_branch)) == 1:
        return {}
    smallest = min(per_branch)
    found = {}
    for _ref, branch, f in zip(node.inputs, branches, per_branch):
        if f == smallest:
            continue
        for candidate in graph.nodes:  # declaration order
            if candidate.name in branch - common and candidate.name in prepared:
                own = _stride(*prepared[candidate.name])
                if own:
                    found.setdefault(candidate.name, own[1])
    return found


def _unpadded_windows(graph: Graph, prepared: dict, node: Node) -> list[str]:
    """Convolutions and poolings on the merged branches (not before they split) that shrink their input."""
    branches = [graph.ancestors(r.node) | {r.node} for r in node.inputs]
    only_some = set.union(*branches) - set.intersection(*branches)
    found = []
    for candidate in graph.nodes:
        if candidate.name not in only_some or candidate.name not in prepared:
            continue
        factory, kwargs = prepared[candidate.name]
        window = kwargs.get("kernel_size", kwargs.get("pool_size", 2))
        size = max(window) if isinstance(window, (list, tuple)) else window
        if "padding" in registry.accepted(factory)[0] and kwargs.get("padding", "valid") != "same" and size != 1:
            found.append(candidate.name)
    return found


def _check_shared(layer, node: Node, args: list, first_calls: dict) -> None:
    """A shared layer's weights were built by its first call: later inputs must fit them.

    Keras does not check this for every layer (an LSTM accepts any feature size
    symbolically), so a fresh copy of the layer is built on the new input and
    its weight shapes compared with the shared instance's.
    """
    shapes = [_dims(a) for a in args]
    if node.target not in first_calls:
        first_calls[node.target] = (node, shapes)
        return
    first, first_shapes = first_calls[node.target]
    if shapes == first_shapes or isinstance(layer, keras.Model):  # Keras checks a model's inputs itself
        return
    try:
        clone = type(layer).from_config(layer.get_config())
    except Exception:  # a plugin layer without a usable get_config(): left to Keras
        return
    try:
        clone(args if len(args) > 1 else args[0])
        fits = [tuple(w.shape) for w in clone.weights] == [tuple(w.shape) for w in layer.weights]
    except Exception:
        fits = False
    if not fits:
        got = ", ".join(f"{s} from {r.node!r}" for s, r in zip(shapes, node.inputs))
        built = ", ".join(f"{s} from {r.node!r}" for s, r in zip(first_shapes, first.inputs))
        message = (
            f"shared {node.target!r} is called with {got}, but its weights were built for {built} (at {first.name!r})"
        )
        raise ConfigError(
            node.problem(message, "every call of a shared layer needs inputs its weights fit (the same feature size)")
        )


# --- compile ----------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _optimizers() -> dict[str, type]:
    """Keras' optimizer classes by lower-case name (names are taken in any case, as `keras.optimizers.get` takes them)."""
    classes = {n: getattr(keras.optimizers, n) for n in dir(keras.optimizers)}
    return {
        n.lower(): c for n, c in classes.items() if isinstance(c, type) and issubclass(c, keras.optimizers.Optimizer)
    }


# Every Keras optimizer's numeric arguments whose default is None.
_NUMBER_OPTIONS = (
    "clipnorm",
    "clipvalue",
    "global_clipnorm",
    "weight_decay",
    "ema_momentum",
    "ema_overwrite_frequency",
    "loss_scale_factor",
    "gradient_accumulation_steps",
)


def optimizer_from_config(opt: dict[str, Any], where: str = "optimizer"):
    """The optimizer of a validated `optimizer:` config (its learning rate checked by `dlcli.config.validate`).

    Not `keras.optimizers.get`: it only returns an instance (the class, needed to check the
    arguments first, would cost a throwaway optimizer that takes the name `adam` from the
    real one), it does not know every optimizer Keras exports (Lamb), and its error names none.
    """
    problems = Collector()
    classes = _optimizers()
    name = str(opt.get("name", "adam"))
    cls = classes.get(name.lower())
    if cls is None or cls is keras.optimizers.Optimizer:
        problems.add(
            f"{where}.name",
            f"unknown optimizer {name!r}",
            did_you_mean(name.lower(), classes) or "valid: " + ", ".join(sorted(classes)),
        )
        problems.raise_if_any()
    kwargs = dict(opt.get("options") or {})
    if "learning_rate" in kwargs:  # it would be silently replaced by optimizer.learning_rate
        problems.add(
            f"{where}.options.learning_rate",
            "the learning rate is optimizer.learning_rate, not an option",
            f"{where}.learning_rate={kwargs['learning_rate']}",
        )
    rate = opt.get("learning_rate", 0.001)
    kwargs["learning_rate"] = (
        learning_rate_schedule(rate, f"{where}.learning_rate") if isinstance(rate, dict) else float(rate)
    )
    registry.check_kwargs(cls, cls.__name__, kwargs, where + ".options", problems)
    for key in _NUMBER_OPTIONS:  # their Keras default is None, so check_kwargs cannot tell: they fail mid-training
        value = kwargs.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            problems.add(f"{where}.options.{key}", f"expected a number, got {value!r}")
    problems.raise_if_any()
    try:
        return cls(**kwargs)
    except Exception as exc:
        raise ConfigError(Problem(where, f"{cls.__name__}({_fmt_kwargs(kwargs)}) failed: {_keras_text(exc)}")) from exc


def learning_rate_schedule(value: dict[str, Any], where: str):
    """`{class: ExponentialDecay, ...}` -> the Keras learning-rate schedule, its name and arguments checked."""
    schedules = {n: getattr(keras.optimizers.schedules, n) for n in dir(keras.optimizers.schedules) if n[:1].isupper()}
    name = str(value.get("class"))
    if name not in schedules:
        raise ConfigError(
            Problem(
                f"{where}.class",
                f"unknown learning-rate schedule {name!r}",
                did_you_mean(name, schedules) or "valid: " + ", ".join(sorted(schedules)),
            )
        )
    kwargs = {k: v for k, v in value.items() if k != "class"}
    problems = Collector()
    registry.check_kwargs(schedules[name], name, kwargs, where, problems)
    problems.raise_if_any()
    try:
        return schedules[name](**kwargs)
    except (ValueError, TypeError) as exc:  # Keras' own range checks (decay_steps must be > 0, ...)
        raise ConfigError(Problem(where, f"{name} refused its arguments: {foreign.first_line(exc)}")) from exc


# Cross-entropies that take probabilities: (the activation that makes them, the loss class taking scores).
_PROBABILITY_LOSSES = {
    "binary_crossentropy": ("sigmoid", "BinaryCrossentropy"),
    "categorical_crossentropy": ("softmax", "CategoricalCrossentropy"),
    "sparse_categorical_crossentropy": ("softmax", "SparseCategoricalCrossentropy"),
}


def _loss_name(loss: Any) -> str:
    """The Keras function a loss computes, by name: `bce` and `{class: BinaryCrossentropy}` are binary_crossentropy."""
    if isinstance(loss, str):
        try:
            loss = keras.losses.get(loss)
        except ValueError:  # a plugin's name
            return loss
    return getattr(loss, "__name__", "") or getattr(getattr(loss, "fn", None), "__name__", "")


def _output_layer(model: keras.Model, out: str):
    try:
        return model.get_layer(out)
    except ValueError:  # an output a sub-model gives: its own layers are not the outer model's
        return None


def _check_one_unit_softmax(model: keras.Model, out: str, where: str, problems: Collector) -> None:
    """A softmax over one unit is 1 whatever it is given (log_softmax 0): the output cannot learn, and
    nothing fails. As an activation or as a Softmax layer."""
    layer = _output_layer(model, out)
    name = (
        "softmax"
        if isinstance(layer, keras.layers.Softmax)
        else getattr(getattr(layer, "activation", None), "__name__", None)
    )
    if name in ("softmax", "log_softmax") and layer.output.shape[-1] == 1:
        problems.add(
            where.removesuffix(".activation") if isinstance(layer, keras.layers.Softmax) else where,
            f"output {out!r} is a {name} over one unit, which is {int(name == 'softmax')} whatever its input: it cannot learn",
            f"for a yes/no target give {out!r} activation: sigmoid (one unit); for classes, one unit per class",
        )


def _check_probabilities(model: keras.Model, out: str, loss: Any, where: str, problems: Collector) -> None:
    """A cross-entropy on an output with no activation (seed 000's IMDB model): Keras reads the
    unbounded scores as probabilities, clips them, and the model does not learn. Nothing fails, so say it here."""
    name = _loss_name(loss)
    layer = _output_layer(model, out)
    if name not in _PROBABILITY_LOSSES or layer is None:
        return
    activation_name = getattr(getattr(layer, "activation", None), "__name__", None)
    if getattr(loss, "_fn_kwargs", {}).get("from_logits"):  # the mirror mistake: scores asked of probabilities
        if activation_name == _PROBABILITY_LOSSES[name][0]:
            problems.add(
                where,
                f"from_logits: true reads output {out!r} as unbounded scores, but its {activation_name} makes probabilities",
                f"drop from_logits, or give {out!r} no activation (activation: linear)",
            )
        return
    if activation_name == "linear":
        activation, cls = _PROBABILITY_LOSSES[name]
        problems.add(
            where,
            f"{name} expects probabilities, but output {out!r} has no activation: its values are unbounded scores",
            f"give {out!r} activation: {activation}, or let the loss take scores: {{class: {cls}, from_logits: true}}",
        )


def _binary_logits(loss: Any) -> bool:
    """A binary (or multi-label) cross-entropy that takes logits: `{class: BinaryCrossentropy, from_logits: true}`."""
    return "binary" in _loss_name(loss) and bool(getattr(loss, "_fn_kwargs", {}).get("from_logits"))


def _on_probabilities(metric: Any, loss: Any) -> Any:
    """Keras' `accuracy` of several sigmoid units (a multi-label output) is categorical accuracy, whether the
    unit with the highest score is a true label: a binary cross-entropy's is each label's, as evaluate and
    predict score it."""
    if isinstance(metric, str) and metric in ("accuracy", "acc") and "binary" in _loss_name(loss):
        return keras.metrics.BinaryAccuracy(name=metric)
    return metric


# Keras' metrics that cut probabilities at 0.5 (or sweep thresholds over [0, 1]), as they read logits.
_ON_LOGITS = {
    "accuracy": lambda name: keras.metrics.BinaryAccuracy(name=name, threshold=0.0),
    "acc": lambda name: keras.metrics.BinaryAccuracy(name=name, threshold=0.0),
    "binary_accuracy": lambda name: keras.metrics.BinaryAccuracy(name=name, threshold=0.0),
    "precision": lambda name: keras.metrics.Precision(name=name, thresholds=0.0),
    "recall": lambda name: keras.metrics.Recall(name=name, thresholds=0.0),
    "auc": lambda name: keras.metrics.AUC(name=name, from_logits=True),
}


def _on_logits(metric: Any, out: str, where: str, problems: Collector) -> Any:
    """A metric of an output that gives logits: Keras' `accuracy` would cut them at 0.5 (a logit of
    0.5 is a probability of 0.62), so the common ones are made to read logits; any other is refused."""
    if isinstance(metric, str) and metric in _ON_LOGITS:
        return _ON_LOGITS[metric](metric)
    if isinstance(metric, keras.metrics.AUC) and metric.get_config().get("from_logits"):
        return metric
    shown = metric if isinstance(metric, str) else type(metric).__name__
    problems.add(
        where,
        f"{shown} reads output {out!r} as probabilities, but its loss takes logits (from_logits: true)",
        f"use {', '.join(sorted(_ON_LOGITS))} (read as logits), or {{class: AUC, from_logits: true}};"
        f" or give {out!r} activation: sigmoid and drop from_logits",
    )
    return metric


def compile_model(model: keras.Model, graph: Graph, optimizer) -> None:
    """Compile with per-output losses, weights and metrics keyed by output name (Keras matches them by key)."""
    problems = Collector()

    def resolve(kind: str, value: Any, where: str):
        try:
            return registry.component(kind, value, where)
        except ConfigError as exc:
            problems.problems.extend(exc.problems)

    losses, metrics, weights = {}, {}, {}
    for out, spec in graph.outputs.items():
        losses[out] = resolve("loss", spec["loss"], graph.source(out, "loss"))
        where = graph.source(out, "metrics")
        metrics[out] = [resolve("metric", m, f"{where}.{i}") for i, m in enumerate(spec.get("metrics", []))]
        if _binary_logits(losses[out]):
            metrics[out] = [_on_logits(m, out, f"{where}.{i}", problems) for i, m in enumerate(metrics[out])]
        else:
            metrics[out] = [_on_probabilities(m, losses[out]) for m in metrics[out]]
        weights[out] = float(spec.get("loss_weight", 1.0))
        _check_probabilities(model, out, losses[out], graph.source(out, "loss"), problems)
        node = graph.node(out)
        _check_one_unit_softmax(
            model, out, f"{node.path}.activation" if node else f"{graph.path}.outputs.{out}", problems
        )
    problems.raise_if_any()
    if len(graph.outputs) == 1:
        (out,) = graph.outputs
        model.compile(
            optimizer=optimizer,
            loss=losses[out],
            metrics=metrics[out],
            loss_weights=[weights[out]] if weights[out] != 1.0 else None,
        )
    else:
        model.compile(optimizer=optimizer, loss=losses, loss_weights=weights, metrics=metrics)
