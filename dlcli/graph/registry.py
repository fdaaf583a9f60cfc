"""Name -> Keras component lookup, and keyword checks against the class's signature.

Layers come from `keras.layers`, whole models from `keras.applications`, and
user or dlcli components from Keras' own serialization registry
(`register_keras_serializable`, filled by the modules in `plugins:`), which is
also what makes saved models reload. Configs never name import paths.
"""

from __future__ import annotations

import inspect
import re
from functools import lru_cache
from typing import Any, Callable

import keras

from dlcli.errors import Collector, ConfigError, Problem, did_you_mean
from dlcli.foreign import first_line

# Keyword arguments every Keras layer accepts through `Layer.__init__(**kwargs)`.
_LAYER_BASE_KWARGS = ("activity_regularizer", "trainable", "dtype", "autocast", "input_dim", "input_shape")

# Value kinds a layer argument, loss or metric may name: Keras module, base class of its classes.
_KINDS: dict[str, tuple[Any, type | None]] = {
    "loss": (keras.losses, keras.losses.Loss),
    "metric": (keras.metrics, keras.metrics.Metric),
    "regularizer": (keras.regularizers, keras.regularizers.Regularizer),
    "initializer": (keras.initializers, keras.initializers.Initializer),
    "constraint": (keras.constraints, keras.constraints.Constraint),
    "activation": (keras.activations, None),
}
# Metric names `compile()` resolves itself, per output, from the output's loss.
_COMPILE_METRICS = ("accuracy", "acc", "crossentropy", "ce")


@lru_cache(maxsize=1)
def _applications() -> dict[str, Callable]:
    return {
        n: getattr(keras.applications, n)
        for n in dir(keras.applications)
        if n[:1].isupper() and callable(getattr(keras.applications, n))
    }


@lru_cache(maxsize=1)
def _layers() -> dict[str, Callable]:
    return {
        n: getattr(keras.layers, n) for n in dir(keras.layers) if n[:1].isupper() and callable(getattr(keras.layers, n))
    }


# Modules whose registered objects configs may name: dlcli's own, then the current config's `plugins:`.
# Keras' registry is process-wide, so a plugin imported for one config must stay invisible to the next.
_visible: tuple[str, ...] = ("dlcli",)


def load_plugins(modules: list[str]) -> None:
    """Import the config's plugin modules (which register their components) and make only them visible."""
    import importlib

    global _visible
    for i, module in enumerate(modules):
        try:
            importlib.import_module(module)
        except Exception as exc:
            missing = isinstance(exc, ModuleNotFoundError) and module.startswith(str(exc.name))
            raise ConfigError(
                Problem(
                    f"plugins.{i}",
                    f"cannot import {module!r}: {exc}",
                    "plugins are importable module names (pip install -e your package, or add it to PYTHONPATH)"
                    if missing
                    else f"{module!r} was found, and importing it raised this: fix it there",
                )
            ) from exc
    _visible = ("dlcli", *modules)


def _is_visible(obj: Any) -> bool:
    module = getattr(obj, "__module__", None) or type(obj).__module__
    return any(module == m or module.startswith(m + ".") for m in _visible)


def registered(base: type | None = None) -> dict[str, Any]:
    """Registered custom objects of dlcli and the listed plugins, by short name (`my_pkg>Swish` -> `Swish`)."""
    found = {}
    for key, obj in keras.saving.get_custom_objects().items():
        if _is_visible(obj) and (base is None or (isinstance(obj, type) and issubclass(obj, base))):
            found[key.split(">", 1)[-1]] = obj
    return found


def known() -> dict[str, Callable]:
    """Every constructor a config may name: Keras' applications and layers, then registered layers."""
    return {**_applications(), **_layers(), **registered(keras.layers.Layer)}


def is_application(factory: Callable) -> bool:
    return factory in _applications().values()


def get(name: str, where: str, problems: Collector) -> Callable | None:
    table = known()
    if name in table:
        return table[name]
    problems.add(
        f"{where}.class",
        f"unknown layer {name!r}",
        did_you_mean(name, table) or "see https://keras.io/api/layers/ or register your own through plugins:",
    )
    return None


def _parameters(factory: Callable) -> list[inspect.Parameter]:
    return list(inspect.signature(factory.__init__ if isinstance(factory, type) else factory).parameters.values())


def accepted(factory: Callable) -> tuple[set[str], set[str]]:
    """(every keyword the factory takes, the ones it requires)."""
    params = _parameters(factory)
    names = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self"}
    required = {
        p.name
        for p in params
        if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self"
    }
    if isinstance(factory, type) and issubclass(factory, keras.layers.Layer):
        names |= set(_LAYER_BASE_KWARGS) | _STILL_TAKEN.get(factory.__name__, set())
    return names, required


# Keras 2 arguments the seeds use, and where Keras 3 has them.
_KERAS2 = {
    "lr": "learning_rate (optimizer.learning_rate)",
    "decay": "a learning-rate schedule: optimizer.learning_rate={class: InverseTimeDecay, ...}",
    "period": "save_freq (in batches; 'epoch' is the default)",
    "write_grads": "nothing: Keras 3's TensorBoard logs no gradients",
}
# Keras 2 arguments Keras 3 layers still take through **kwargs (and ignore, with a warning).
_STILL_TAKEN = {"Embedding": {"input_length"}}


def check_kwargs(factory: Callable, name: str, kwargs: dict[str, Any], where: str, problems: Collector) -> None:
    names, required = accepted(factory)
    for key in kwargs:
        if key not in names:
            hint = f"{key!r} is Keras 2's; Keras 3 has {_KERAS2[key]}." if key in _KERAS2 else did_you_mean(key, names)
            valid = "valid: " + ", ".join(sorted(names - {"name"}))
            problems.add(f"{where}.{key}", f"{name} takes no argument {key!r}", f"{hint} {valid}" if hint else valid)
    missing = sorted(required - set(kwargs) - {"name"})
    if missing:
        problems.add(where, f"{name} needs {', '.join(repr(m) for m in missing)}")
    _check_kinds(factory, name, kwargs, where, problems)


def _check_kinds(factory: Callable, name: str, kwargs: dict[str, Any], where: str, problems: Collector) -> None:
    """A single value must be of the kind of the signature's default where that is a bool, int or float.

    Keras takes `patience='abc'` or `save_best_only='maybe'` without a word and
    fails (or misbehaves) mid-training. Only bool, int and float values are
    judged against bool, int and float defaults: None, lists and mappings are
    left to Keras, which documents many numbers as "int or tuple" or optional.
    """
    for param in _parameters(factory):
        default, value = param.default, kwargs.get(param.name)
        if (
            param.name not in kwargs
            or type(default) not in (bool, int, float)
            or not isinstance(value, (str, bool, int, float))
        ):
            continue
        expected = _expected_kind(factory, param.name, default)
        whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        fits = {"true or false": isinstance(value, bool), "an integer": whole and not isinstance(value, bool)}.get(
            expected, isinstance(value, (int, float)) and not isinstance(value, bool)
        )
        if not fits:
            shown = str(default).lower() if isinstance(default, bool) else repr(default)
            problems.add(f"{where}.{param.name}", f"expected {expected} ({name}'s default is {shown}), got {value!r}")


def _expected_kind(factory: Callable, argument: str, default: bool | int | float) -> str:
    """What a bool, int or float default asks for. An int default asks for an integer only where
    the docstring says so: Keras gives thresholds like EarlyStopping's `min_delta` an int default."""
    if isinstance(default, bool):
        return "true or false"
    if isinstance(default, float):
        return "a number"
    said = _documented(factory, argument)
    integer = re.search(r"\bint(eger)?s?\b|\bnumber of\b", said, re.I) and not re.search(r"\bfloat", said, re.I)
    return "an integer" if integer else "a number"


def _documented(factory: Callable, argument: str) -> str:
    """The docstring's entry for `argument` (Keras documents each under `Args:` as `name: text`), or ''."""
    found = re.search(rf"^([ \t]*){re.escape(argument)}:(.*(?:\n\1[ \t]+\S.*)*)", inspect.getdoc(factory) or "", re.M)
    return " ".join(found.group(2).split()) if found else ""


def kind_of(argument: str) -> str | None:
    """The value kind a layer argument names: `kernel_regularizer` -> regularizer, `activation` -> activation."""
    if argument == "activation" or argument.endswith("_activation"):
        return "activation"
    return next((k for k in ("regularizer", "initializer", "constraint") if argument.endswith(f"_{k}")), None)


def component(kind: str, value: Any, where: str) -> Any:
    """A loss, metric, regularizer, initializer, constraint or activation from the config.

    `value` is a Keras name (`l2`, `he_normal`, `mse`: returned as given, so it
    serializes as a name), a plugin's registered name (returned as the object),
    or `{class: L2, l2: 0.01}` (the class built with checked keyword arguments).
    """
    module, base = _KINDS[kind]
    if isinstance(value, dict):
        return _from_class(kind, module, base, value, where)
    if not isinstance(value, str):
        raise ConfigError(Problem(where, f"expected a {kind} name or {{class: Name, ...arguments}}, got {value!r}"))
    if (kind == "metric" and value in _COMPILE_METRICS) or _keras_knows(module, value):
        return value
    plugins = registered()
    if value in plugins:
        obj = plugins[value]
        return obj() if isinstance(obj, type) else obj
    names = [n for n in dir(module) if not n.startswith("_") and n not in ("get", "serialize", "deserialize")]
    names += list(_COMPILE_METRICS) if kind == "metric" else []
    raise ConfigError(
        Problem(
            where,
            f"unknown {kind} {value!r}",
            did_you_mean(value, [*names, *plugins]) or f"see https://keras.io/api/{module.__name__.split('.')[-1]}/",
        )
    )


def _keras_knows(module, name: str) -> bool:
    try:
        module.get(name)
    except (ValueError, TypeError, KeyError):
        return False
    return True


def _from_class(kind: str, module, base: type | None, value: dict, where: str) -> Any:
    name = str(value.get("class"))
    classes = {n: getattr(module, n) for n in dir(module) if n[:1].isupper() and isinstance(getattr(module, n), type)}
    classes.update(registered(base) if base else {})
    if base is None or name not in classes:
        hint = did_you_mean(name, classes) or (
            "valid: " + ", ".join(sorted(classes)) if classes else f"give the {kind} by name"
        )
        raise ConfigError(Problem(f"{where}.class", f"unknown {kind} class {name!r}", hint))
    kwargs = {k: v for k, v in value.items() if k != "class"}
    problems = Collector()
    check_kwargs(classes[name], name, kwargs, where, problems)
    problems.raise_if_any()
    try:
        return classes[name](**kwargs)
    except Exception as exc:
        arguments = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        raise ConfigError(Problem(where, f"{name}({arguments}) failed: {first_line(exc)}", code="foreign")) from exc
