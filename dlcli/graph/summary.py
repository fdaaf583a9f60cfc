"""The `check` table: layers with output shapes and parameter counts, inputs and outputs."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def _shape(value) -> Any:
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and value and not isinstance(value[0], (int, type(None))):
        return [_shape(v) for v in value]
    return list(value.shape) if hasattr(value, "shape") else list(value)


def describe(model) -> dict[str, Any]:
    import keras

    trainable = sum(int(keras.ops.size(w)) for w in model.trainable_weights)
    total = model.count_params()
    inputs = model.inputs
    outputs = model.output if isinstance(model.output, dict) else dict(zip(model.output_names, model.outputs))
    return {
        "name": model.name,
        "total_params": total,
        "trainable_params": trainable,
        "non_trainable_params": total - trainable,
        "inputs": [{"name": t.name, "shape": list(t.shape), "dtype": str(t.dtype)} for t in inputs],
        "outputs": [{"name": name, "shape": list(t.shape), "dtype": str(t.dtype)} for name, t in outputs.items()],
        "layers": [
            {
                "name": layer.name,
                "type": type(layer).__name__,
                "output_shape": _output_shape(layer),
                "params": layer.count_params() if layer.built else 0,
            }
            for layer in model.layers
        ],
    }


def _output_shape(layer):
    try:
        return _shape(layer.output)
    except (AttributeError, ValueError):
        return None


def table(info: dict[str, Any]) -> Table:
    t = Table(title=f"model {info['name']}", title_justify="left")
    t.add_column("layer")
    t.add_column("type")
    t.add_column("output shape")
    t.add_column("params", justify="right")
    for layer in info["layers"]:
        t.add_row(layer["name"], layer["type"], str(layer["output_shape"]).replace("None", "None"), f"{layer['params']:,}")
    return t


def footer(info: dict[str, Any]) -> str:
    ins = ", ".join(f"{i['name']} {tuple(i['shape'])} {i['dtype']}" for i in info["inputs"])
    outs = ", ".join(f"{o['name']} {tuple(o['shape'])}" for o in info["outputs"])
    return (
        f"total params: {info['total_params']:,}  trainable: {info['trainable_params']:,}  "
        f"non-trainable: {info['non_trainable_params']:,}\ninputs: {ins}\noutputs: {outs}"
    )


def summary_text(model) -> str:
    info = describe(model)
    console = Console(width=120, record=True, file=_Null())
    console.print(table(info))
    console.print(footer(info))
    return console.export_text()


class _Null:
    def write(self, _):
        pass

    def flush(self):
        pass
