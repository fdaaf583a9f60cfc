"""Name -> Keras class lookup and keyword checks against the class's signature.

Layers come from `keras.layers`, whole models from `keras.applications`, and
user or dlcli components from Keras' own serialization registry
(`register_keras_serializable`), which is also what makes saved models reload.
"""

from __future__ import annotations

import inspect
from functools import lru_cache
from typing import Any, Callable

import keras

from dlcli.errors import Collector, did_you_mean

# Keyword arguments every Keras layer accepts through `Layer.__init__(**kwargs)`.
_LAYER_BASE_KWARGS = ("activity_regularizer", "trainable", "dtype", "autocast", "input_dim", "input_shape")


@lru_cache(maxsize=1)
def _builtin() -> dict[str, Callable]:
    found: dict[str, Callable] = {}
    for module in (keras.applications, keras.layers):  # layers win on a clash
        for name in dir(module):
            obj = getattr(module, name)
            if name[:1].isupper() and callable(obj):
                found[name] = obj
    return found


def known() -> dict[str, Callable]:
    """Every constructor a config may name: Keras' layers and applications, then registered ones."""
    registered = {key.split(">", 1)[-1]: obj for key, obj in keras.saving.get_custom_objects().items()}
    return {**_builtin(), **{k: v for k, v in registered.items() if isinstance(v, type)}}


def get(name: str, where: str, problems: Collector) -> Callable | None:
    table = known()
    if name in table:
        return table[name]
    problems.add(f"{where}.class", f"unknown layer {name!r}", did_you_mean(name, table) or "see https://keras.io/api/layers/ or register your own through plugins:")
    return None


def accepted(factory: Callable) -> tuple[set[str], set[str]]:
    """(every keyword the factory takes, the ones it requires)."""
    init = factory.__init__ if isinstance(factory, type) else factory
    params = list(inspect.signature(init).parameters.values())
    names = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self"}
    required = {p.name for p in params if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self"}
    if isinstance(factory, type) and issubclass(factory, keras.layers.Layer):
        names |= set(_LAYER_BASE_KWARGS)
    return names, required


def check_kwargs(factory: Callable, name: str, kwargs: dict[str, Any], where: str, problems: Collector) -> None:
    names, required = accepted(factory)
    for key in kwargs:
        if key not in names:
            hint = did_you_mean(key, names)
            valid = "valid: " + ", ".join(sorted(names - {"name"}))
            problems.add(f"{where}.{key}", f"{name} takes no argument {key!r}", f"{hint} {valid}" if hint else valid)
    missing = sorted(required - set(kwargs) - {"name"})
    if missing:
        problems.add(where, f"{name} needs {', '.join(repr(m) for m in missing)}")
