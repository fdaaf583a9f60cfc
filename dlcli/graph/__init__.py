"""The model compiler: `model:` config -> checked graph -> Keras model.

`parse` needs no Keras, so structural mistakes are reported before JAX is
imported; `build` and `compile_model` live in `dlcli.graph.compiler`.
"""

from dlcli.graph.spec import Graph, Node, Ref, parse

__all__ = ["Graph", "Node", "Ref", "parse"]
