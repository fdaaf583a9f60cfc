"""Small configs for driving dlcli.data directly: a DataConfig and a model graph, no Hydra, no Keras."""

from __future__ import annotations

from omegaconf import OmegaConf

from dlcli.config.schema import DataConfig
from dlcli.data.io import InputSpec, ModelIO, OutputSpec
from dlcli.graph import parse


def data_cfg(**values):
    """A DataConfig with `values` merged in (nested dicts for preprocess)."""
    return OmegaConf.merge(OmegaConf.structured(DataConfig), values)


def graph(features: int = 4, loss: str = "sparse_categorical_crossentropy", units: int = 3):
    """A one-input, one-output model: `features` floats -> Dense(units)."""
    return parse(
        {
            "inputs": {"input": {"shape": [features]}},
            "nodes": {"out": {"class": "Dense", "units": units}},
            "outputs": {"out": {"loss": loss}},
        }
    )


def io(features: int = 4, loss: str = "sparse_categorical_crossentropy", units: int = 3) -> ModelIO:
    """What `ModelIO.of` would say about `graph(...)` once built."""
    return ModelIO([InputSpec("input", (features,), "float32")], [OutputSpec("out", (units,), loss)])


def two_by_two():
    """Two inputs (a: 3 floats, b: 2 floats), two outputs (kind: 3 classes, size: regression)."""
    model = parse(
        {
            "inputs": {"a": {"shape": [3]}, "b": {"shape": [2]}},
            "nodes": {
                "both": {"class": "Concatenate", "inputs": ["a", "b"]},
                "kind": {"class": "Dense", "units": 3, "inputs": "both"},
                "size": {"class": "Dense", "units": 1, "inputs": "both"},
            },
            "outputs": {"kind": {"loss": "sparse_categorical_crossentropy"}, "size": {"loss": "mse"}},
        }
    )
    built = ModelIO(
        [InputSpec("a", (3,), "float32"), InputSpec("b", (2,), "float32")],
        [OutputSpec("kind", (3,), "sparse_categorical_crossentropy"), OutputSpec("size", (1,), "mse")],
    )
    return model, built


# A five-feature binary CSV recipe (five.csv beside it), for data and file mistakes.
FIVE = """\
description: five features, one output
model:
  inputs: {input: {shape: [5]}}
  nodes: {out: {class: Dense, units: 1, activation: sigmoid}}
  outputs: {out: {loss: binary_crossentropy}}
data:
  source: csv
  path: five.csv
  target: label
train: {epochs: 1}
"""
