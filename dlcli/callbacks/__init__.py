"""Callbacks from config: `callbacks: {name: {class: EarlyStopping, ...}}`.

`get(name)` finds a Keras callback class or one registered with
`keras.saving.register_keras_serializable` (dlcli's own, or a plugin's);
Keras has no callback registry of its own. Paths a callback writes are placed
inside the run directory unless they are absolute.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras

from dlcli.errors import Collector, ConfigError, Problem, did_you_mean
from dlcli.graph import registry

_PATH_ARGS = ("filepath", "filename", "log_dir", "backup_dir")


def known() -> dict[str, type]:
    found = {n: getattr(keras.callbacks, n) for n in dir(keras.callbacks) if isinstance(getattr(keras.callbacks, n), type)}
    for key, obj in keras.saving.get_custom_objects().items():
        if isinstance(obj, type) and issubclass(obj, keras.callbacks.Callback):
            found[key.split(">", 1)[-1]] = obj
    return found


def get(identifier: str) -> type:
    table = known()
    if identifier not in table:
        raise ConfigError(Problem("callbacks", f"unknown callback {identifier!r}", did_you_mean(identifier, table)))
    return table[identifier]


def from_config(specs: dict[str, Any], run_dir: Path) -> list[keras.callbacks.Callback]:
    problems = Collector()
    table = known()
    made = []
    for name, spec in (specs or {}).items():
        where = f"callbacks.{name}"
        if spec is None:  # `callbacks.name=null` switches a group's callback off
            continue
        if not isinstance(spec, dict) or "class" not in spec:
            problems.add(where, "a callback needs `class:` (e.g. EarlyStopping) and its Keras arguments")
            continue
        cls = table.get(str(spec["class"]))
        if cls is None:
            problems.add(f"{where}.class", f"unknown callback {spec['class']!r}", did_you_mean(str(spec["class"]), table) or "valid: " + ", ".join(sorted(table)))
            continue
        kwargs = {k: v for k, v in spec.items() if k != "class"}
        registry.check_kwargs(cls, cls.__name__, kwargs, where, problems)
        for key in _PATH_ARGS:
            if key in kwargs and not Path(str(kwargs[key])).expanduser().is_absolute():
                kwargs[key] = str(run_dir / str(kwargs[key]))
        if not problems.problems:
            try:
                made.append(cls(**kwargs))
            except Exception as exc:
                problems.add(where, f"{cls.__name__} failed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
    problems.raise_if_any()
    return made
