"""What the data pipeline needs to know about a model: its inputs and outputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class InputSpec:
    name: str
    shape: tuple  # per sample, None for free dimensions
    dtype: str
    vocab: int | None = None  # for integer inputs: values are drawn from [1, vocab)


@dataclass(frozen=True)
class OutputSpec:
    name: str
    shape: tuple  # per sample
    loss: Any

    @property
    def loss_name(self) -> str:
        return self.loss if isinstance(self.loss, str) else str(getattr(self.loss, "__name__", self.loss))

    @property
    def units(self) -> int:
        return int(self.shape[-1]) if self.shape and self.shape[-1] else 1


@dataclass(frozen=True)
class ModelIO:
    inputs: list[InputSpec] = field(default_factory=list)
    outputs: list[OutputSpec] = field(default_factory=list)

    @classmethod
    def of(cls, model, graph) -> "ModelIO":
        """Specs from a built Keras model and its graph (vocabularies from the Embeddings the inputs feed)."""
        vocab = _embedding_vocab(model)
        inputs = [
            InputSpec(name, tuple(spec["shape"]), str(spec.get("dtype", "float32")), spec.get("vocab") or vocab.get(name))
            for name, spec in graph.inputs.items()
        ]
        out = model.output
        tensors = [out[name] for name in graph.outputs] if isinstance(out, dict) else list(out) if isinstance(out, (list, tuple)) else [out]
        outputs = [
            OutputSpec(name, tuple(t.shape[1:]), spec.get("loss")) for (name, spec), t in zip(graph.outputs.items(), tensors)
        ]
        return cls(inputs, outputs)


def _embedding_vocab(model) -> dict[str, int]:
    """input name -> input_dim of the first Embedding layer fed directly by it."""
    import keras

    found = {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.Embedding):
            for node in layer._inbound_nodes:
                for tensor in node.input_tensors:
                    history = tensor._keras_history
                    if isinstance(history.operation, keras.layers.InputLayer):
                        found.setdefault(history.operation.name, layer.input_dim)
    return found
