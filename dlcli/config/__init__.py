"""The config API: compose a recipe with overrides, then validate it.

Nothing here imports JAX or Keras, so config errors are reported at once.
"""

from dlcli.config.compose import (
    Composed,
    blaming_overrides,
    check_saved,
    compose,
    compose_saved,
    config_dirs,
    split_recipe,
)
from dlcli.config.recipes import Recipe, discover
from dlcli.config.validate import validate

__all__ = [
    "Composed",
    "Recipe",
    "blaming_overrides",
    "check_saved",
    "compose",
    "compose_saved",
    "config_dirs",
    "discover",
    "split_recipe",
    "validate",
]
