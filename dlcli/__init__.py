"""dlcli: declarative deep-learning experiments, Hydra configs compiled to Keras 3 on JAX.

Importing this package must stay cheap: nothing here may import JAX or Keras,
so that `dlcli --help` and config errors answer at once.
"""

__version__ = "0.1.0"
