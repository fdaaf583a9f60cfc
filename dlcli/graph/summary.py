"""The `check` table: layers with output shapes and parameter counts, inputs and outputs.

Given the model's graph, layers are listed in the config's order (Keras lists
them by depth) with the nodes each one takes its inputs from, and each output
with the loss, loss weight and metrics it is compiled with. `expand` lists the
layers inside sub-models too, named `<sub-model>/<layer>`.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from dlcli import foreign


def _shape(value) -> Any:
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and value and not isinstance(value[0], (int, type(None))):
        return [_shape(v) for v in value]
    return list(value.shape) if hasattr(value, "shape") else list(value)


def describe(model, graph=None, expand: bool = False) -> dict[str, Any]:
    import keras

    trainable = sum(int(keras.ops.size(w)) for w in model.trainable_weights)
    wiring = _wiring(graph) if graph is not None else {}
    total = model.count_params()
    inputs = model.inputs
    names = list(graph.outputs) if graph is not None else model.output_names  # a `use:` output has no layer of its name
    outputs = model.output if isinstance(model.output, dict) else dict(zip(names, model.outputs))
    return {
        "name": model.name,
        "total_params": total,
        "trainable_params": trainable,
        "non_trainable_params": total - trainable,
        "inputs": [{"name": t.name, "shape": list(t.shape), "dtype": str(t.dtype)} for t in inputs],
        "outputs": [
            {"name": name, "shape": list(t.shape), "dtype": str(t.dtype), **_compiled(graph, name)}
            for name, t in outputs.items()
        ],
        "layers": [
            row
            for layer in _ordered(model.layers, graph)
            for row in _rows(layer, {"inputs": wiring.get(layer.name, [])} if graph is not None else {}, expand)
        ],
    }


def _compiled(graph, name: str) -> dict[str, Any]:
    """An output's loss, loss weight and metrics as the config gives them to `compile`."""
    if graph is None:
        return {}
    spec = graph.outputs[name]
    loss = spec.get("loss")
    return {
        "loss": loss.get("class") if isinstance(loss, dict) else loss,
        "loss_weight": spec.get("loss_weight", 1.0),
        "metrics": [m.get("class") if isinstance(m, dict) else m for m in spec.get("metrics") or []],
    }


def _rows(layer, extra: dict, expand: bool, prefix: str = "") -> list[dict[str, Any]]:
    """A layer's row, then (with `expand`) the rows of the layers inside it, a sub-model's."""
    row = {
        "name": prefix + layer.name,
        "type": type(layer).__name__,
        "output_shape": _output_shape(layer),
        "params": layer.count_params() if layer.built else 0,
        **extra,
    }
    inner = getattr(layer, "layers", None) if expand else None
    nested = [r for sub in inner or [] for r in _rows(sub, {}, expand, f"{prefix}{layer.name}/")]
    return [row, *nested]


def _ordered(layers: list, graph) -> list:
    if graph is None:
        return layers
    position: dict[str, int] = {}
    for name in [*graph.inputs, *(n.target if n.shared else n.name for n in graph.nodes)]:
        position.setdefault(name, len(position))  # a shared layer sits at its first call
    return sorted(layers, key=lambda layer: position.get(layer.name, len(position)))


def _wiring(graph) -> dict[str, list[str]]:
    """Layer name -> the nodes it is called on; a shared layer has one `node: inputs` entry per call."""
    calls: dict[str, list[str]] = {}
    for node in graph.nodes:
        inputs = ", ".join(map(str, node.inputs))
        calls.setdefault(node.target if node.shared else node.name, []).append(
            f"{node.name}: {inputs}" if node.shared else inputs
        )
    return calls


def _output_shape(layer):
    try:
        return _shape(layer.output)
    except (AttributeError, ValueError):
        return None


def table(info: dict[str, Any]) -> Table:
    """Shapes without the batch axis (always None) and a plain box, so that it fits 80 columns."""
    from rich import box

    wired = any("inputs" in layer for layer in info["layers"])
    t = Table(title=f"model {info['name']}", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    t.add_column("layer", overflow="fold")
    t.add_column("type", no_wrap=True)
    t.add_column("output shape", no_wrap=True)
    t.add_column("params", justify="right", no_wrap=True)
    if wired:
        t.add_column("inputs")
    for layer in info["layers"]:
        row = [layer["name"], layer["type"], _brief(layer["output_shape"]), f"{layer['params']:,}"]
        t.add_row(*row, *(["; ".join(layer.get("inputs", []))] if wired else []))
    return t


def _brief(shape) -> str:
    """[None, 28, 28, 1] as (28, 28, 1): one sample's shape; several outputs each so."""
    if isinstance(shape, dict):
        return ", ".join(f"{k} {_brief(v)}" for k, v in shape.items())
    if isinstance(shape, list) and shape and isinstance(shape[0], list):
        return ", ".join(_brief(s) for s in shape)
    if not isinstance(shape, list):
        return str(shape)
    dims = shape[1:] if shape and shape[0] is None else shape
    return "(" + ", ".join(str(d) for d in dims) + ("," if len(dims) == 1 else "") + ")"


def footer(info: dict[str, Any]) -> str:
    ins = ", ".join(f"{i['name']} {tuple(i['shape'])} {i['dtype']}" for i in info["inputs"])
    outs = ", ".join(f"{o['name']} {tuple(o['shape'])}" for o in info["outputs"])
    lines = [
        f"total params: {info['total_params']:,}  trainable: {info['trainable_params']:,}  "
        f"non-trainable: {info['non_trainable_params']:,}",
        f"inputs: {ins}",
        f"outputs: {outs}",
    ]
    for o in info["outputs"]:
        if "loss" in o:
            metrics = ", ".join(map(str, o["metrics"])) or "none"
            lines.append(f"output {o['name']}: loss {o['loss']}, weight {o['loss_weight']:g}, metrics {metrics}")
    return "\n".join(lines)


def summary_text(model, graph=None) -> str:
    info = describe(model, graph)
    console = Console(width=80, record=True, file=_Null())
    console.print(table(info))
    console.print(footer(info))
    return console.export_text()


class _Null:
    def write(self, _):
        pass

    def flush(self):
        pass


def plot(model, path) -> str | None:
    """Draw the graph with shapes to `path`; returns why it could not, if it could not.

    Keras' `plot_model` only prints (instead of raising) when it finds IPython
    loaded, so the requirements are checked here and the file looked for after.
    """
    import importlib.util
    import shutil
    from pathlib import Path

    import keras

    if importlib.util.find_spec("pydot") is None:
        return "pydot is not installed"
    if shutil.which("dot") is None:
        return "graphviz's `dot` program is not on PATH"
    try:
        keras.utils.plot_model(model, to_file=str(path), show_shapes=True, show_layer_names=True)
    except (ImportError, OSError, ValueError) as exc:
        return foreign.first_line(exc)
    return None if Path(path).is_file() else "keras.utils.plot_model wrote nothing"
