"""What the data pipeline needs to know about a model: its inputs and outputs.

`ModelIO.from_graph` reads them from the parsed config without Keras (names,
input shapes, losses), so most data checks run before JAX is imported;
`ModelIO.of` adds what only the built model knows (output shapes, vocabularies).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dlcli.foreign import snake_case

# Losses by the label format they take; any other loss is a regression loss.
BINARY_LOSSES = ("binary_crossentropy", "binary_focal_crossentropy", "hinge", "squared_hinge")
ONE_HOT_LOSSES = ("categorical_crossentropy", "categorical_focal_crossentropy", "categorical_hinge")
SPARSE_LOSSES = ("sparse_categorical_crossentropy",)


@dataclass(frozen=True)
class InputSpec:
    name: str
    shape: tuple  # per sample, None for free dimensions
    dtype: str
    vocab: int | None = None  # for integer inputs: values are drawn from [1, vocab)


@dataclass(frozen=True)
class OutputSpec:
    name: str
    shape: tuple | None  # per sample; None until the model is built
    loss: Any

    @property
    def loss_name(self) -> str:
        if isinstance(self.loss, dict):
            return str(self.loss.get("class", ""))
        return self.loss if isinstance(self.loss, str) else str(getattr(self.loss, "__name__", self.loss))

    @property
    def kind(self) -> str:
        """binary | one_hot | sparse | regression: the label format the loss takes."""
        name = snake_case(self.loss_name)
        if name in BINARY_LOSSES:
            return "binary"
        if name in ONE_HOT_LOSSES:
            return "one_hot"
        if name in SPARSE_LOSSES:
            return "sparse"
        return "regression"

    @property
    def units(self) -> int | None:
        if self.shape is None:
            return None
        return int(self.shape[-1]) if self.shape and self.shape[-1] else 1


@dataclass(frozen=True)
class ModelIO:
    inputs: list[InputSpec] = field(default_factory=list)
    outputs: list[OutputSpec] = field(default_factory=list)

    @classmethod
    def from_graph(cls, graph) -> ModelIO:
        """Names, input shapes and losses as the config declares them (no Keras)."""
        inputs = [
            InputSpec(name, tuple(spec.get("shape") or ()), str(spec.get("dtype", "float32")), spec.get("vocab"))
            for name, spec in graph.inputs.items()
        ]
        outputs = [OutputSpec(name, None, spec.get("loss")) for name, spec in graph.outputs.items()]
        return cls(inputs, outputs)

    @classmethod
    def of(cls, model, graph) -> ModelIO:
        """Specs from a built Keras model and its graph (vocabularies from the Embeddings the inputs feed)."""
        vocab = _embedding_vocab(model)
        inputs = [
            InputSpec(
                name, tuple(spec["shape"]), str(spec.get("dtype", "float32")), spec.get("vocab") or vocab.get(name)
            )
            for name, spec in graph.inputs.items()
        ]
        out = model.output
        tensors = (
            [out[name] for name in graph.outputs]
            if isinstance(out, dict)
            else list(out)
            if isinstance(out, (list, tuple))
            else [out]
        )
        outputs = [
            OutputSpec(name, tuple(t.shape[1:]), spec.get("loss"))
            for (name, spec), t in zip(graph.outputs.items(), tensors)
        ]
        return cls(inputs, outputs)

    def input_names(self) -> str:
        return ", ".join(i.name for i in self.inputs)

    def output_names(self) -> str:
        return ", ".join(o.name for o in self.outputs)


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
