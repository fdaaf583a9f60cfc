"""Hydra's compose API, the only place dlcli touches Hydra's global state.

The search path is [user config dirs..., shipped conf/]: the first match wins,
so a team's `conf/`-style tree overrides or extends the shipped groups. The
root config is registered in the ConfigStore (rather than loaded as Hydra's
"main" directory) precisely so that user directories can come before it.
Hydra's own errors are translated into `ConfigError`s that name the key.
"""

from __future__ import annotations

import dataclasses
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml
from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import (
    ConfigCompositionException,
    HydraException,
    MissingConfigException,
    OverrideParseException,
)
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import (
    ConfigAttributeError,
    ConfigKeyError,
    OmegaConfBaseException,
    ValidationError,
)

from dlcli import foreign, paths
from dlcli.config import recipes, schema
from dlcli.errors import COMMAND_LINE, ConfigError, Origin, Problem, did_you_mean

ENV_CONFIG_PATH = "DLCLI_CONFIG_PATH"
_ROOT = "dlcli_root"
_SAVED = "dlcli_saved_run"
_SAVED_OPTION = "_saved"  # a saved run's own callbacks (distribution), as an option of that group
_SAVED_GROUPS = ("callbacks", "distribution")  # the groups whose option a resumed run may change


@dataclass
class Composed:
    cfg: DictConfig
    recipe: recipes.Recipe
    overrides: list[str]


def config_dirs(extra: list[str] | None = None) -> list[Path]:
    """User config directories: `$DLCLI_CONFIG_PATH` first, then `--config-dir`s (later wins)."""
    from_env = [("$" + ENV_CONFIG_PATH, p) for p in os.environ.get(ENV_CONFIG_PATH, "").split(os.pathsep) if p]
    dirs = []
    for where, entry in from_env + [("--config-dir", p) for p in extra or []]:
        path = Path(entry).expanduser().resolve()
        if not path.is_dir():
            raise ConfigError(Problem(where, f"{entry!r} is not a directory (resolved to {path})"))
        dirs.append(path)
    return dirs


def split_recipe(overrides: list[str]) -> tuple[str | None, list[str]]:
    """Take `recipe=NAME` out of the overrides: dlcli resolves it (paths, did-you-mean).
    A command trains one recipe: a second `recipe=`, or `+recipe=`/`~recipe`, is refused."""
    recipe, rest = None, []
    for item in overrides:
        key = item.split("=", 1)[0]
        if key == "recipe":
            given = item.split("=", 1)[1]
            if recipe is not None and given != recipe:
                raise ConfigError(
                    Problem(
                        "recipe",
                        f"given twice: recipe={recipe} and recipe={given}",
                        "a command uses one recipe; keep one recipe=NAME",
                        COMMAND_LINE,
                        "duplicate_recipe",
                    )
                )
            if _swept(item) and not Path(given).is_file():
                raise ConfigError(
                    Problem(
                        "recipe",
                        f"{item!r} sweeps the recipe; a sweep varies the keys of one recipe",
                        "run one sweep per recipe: dlcli sweep recipe=NAME key=a,b ...",
                        COMMAND_LINE,
                        "recipe_sweep",
                    )
                )
            recipe = given
        elif key.lstrip("+~") == "recipe" or key.lstrip("+~").startswith("recipe."):
            raise ConfigError(
                Problem(
                    "recipe",
                    f"{item!r}: the recipe is chosen with recipe=NAME, not added, deleted or edited",
                    "write recipe=NAME (or recipe=path/to/file.yaml), then override its keys",
                    COMMAND_LINE,
                    "recipe_override",
                )
            )
        else:
            rest.append(item)
    return recipe, rest


def _swept(item: str) -> bool:
    try:
        return OverridesParser.create().parse_overrides([item])[0].is_sweep_override()
    except OverrideParseException:
        return False  # a recipe's file name, which may hold any character


def compose(recipe_id: str | None, overrides: list[str], extra_dirs: list[str] | None = None) -> Composed:
    if not recipe_id:
        known = ", ".join(recipes.discover(config_dirs(extra_dirs)))
        raise ConfigError(Problem("recipe", "no recipe given", f"add recipe=NAME; recipes: {known}"))
    dirs = config_dirs(extra_dirs)
    recipe = recipes.resolve(recipe_id, dirs)
    _parse(overrides)
    store = ConfigStore.instance()
    schema.register()
    store.store(name=_ROOT, node=OmegaConf.load(paths.conf_dir() / "config.yaml"))
    # Only this compose's recipe: Hydra deep-copies the whole store on every compose, so recipes left
    # from earlier composes in this process (a sweep's, a test run's) would make each one slower.
    store.repo.pop("recipe", None)
    node = _load_recipe(recipe)
    for group in _REPLACED:  # `data=csv` on the command line: the csv option's defaults, not the recipe's data mixed in
        if any(item.partition("=")[0] == group for item in overrides):
            node.pop(group, None)
    store.store(group="recipe", name=recipe.name, node=node, package="_global_")
    search = ",".join(f"file://{d}" for d in [*reversed(dirs), paths.conf_dir()])
    hydra_overrides = [f"hydra.searchpath=[{search}]", f"+recipe={recipe.name}", *overrides]
    cfg = _compose(hydra_overrides, overrides, recipe, dirs)
    _check_schema(cfg, overrides)
    _check_interpolations(cfg, overrides, Origin("recipe", str(recipe.path)))
    if cfg.run.name is None:
        cfg.run.name = recipe.name
    return Composed(cfg, recipe, list(overrides))


# Groups whose option, chosen on the command line, replaces what a recipe writes inline for them:
# a recipe's columns, target and scaler belong to its data, its nodes to its model.
_REPLACED = ("data", "model")


def _load_recipe(recipe: recipes.Recipe) -> DictConfig:
    try:
        loaded = OmegaConf.load(recipe.path)
    except Exception as exc:  # YAML syntax errors come in several types
        raise ConfigError(Problem("recipe", f"cannot read {recipe.path}: {exc}")) from exc
    if not isinstance(loaded, DictConfig):
        raise ConfigError(
            Problem(
                "recipe",
                f"{recipe.path} holds a YAML list, not a mapping of config keys",
                "see recipes/mnist_dropout.yaml for the shape of a recipe",
            )
        )
    return loaded


OVERRIDE_HINT = (
    "overrides look like key=value, +key=value or ~key; quote values with characters such as ; or spaces: \"key='a;b'\""
)


def _parse(overrides: list[str]) -> None:
    parser = OverridesParser.create()
    parsed = []
    for item in overrides:  # one at a time, so the message names the one that does not parse
        try:
            parsed.extend(parser.parse_overrides([item]))
        except OverrideParseException as exc:
            reason = foreign.hydra_parse_reason(exc)
            raise ConfigError(
                Problem("overrides", f"cannot parse {item!r}: {reason}", _parse_hint(item), COMMAND_LINE, "syntax")
            ) from exc
    for override in parsed:
        if not override.key_or_group:
            raise ConfigError(
                Problem("overrides", f"{override.input_line!r} names no key", OVERRIDE_HINT, COMMAND_LINE, "syntax")
            )
        if override.is_delete() and _through_list(override.key_or_group):
            raise ConfigError(_list_item_delete(override.key_or_group))
        group = override.key_or_group.lstrip("/")
        value = override.value()
        if group in _GROUPS and not override.is_delete() and not isinstance(value, (str, list)):
            raise ConfigError(_group_value(group, override.input_line))
        if override.is_sweep_override():
            raise ConfigError(
                Problem(
                    override.key_or_group,
                    f"{override.input_line!r} is a sweep (several values); a command trains one config",
                    "give one value, or run every combination: dlcli train -m ... (or dlcli sweep ...)",
                )
            )
        parent, _, name = override.key_or_group.rpartition(".")
        if override.is_delete() and name in _keys_at(parent):  # Hydra deletes top-level schema keys, which breaks later
            raise ConfigError(_undeletable(override.key_or_group))


def _parse_hint(item: str) -> str:
    """What most likely went wrong in an override Hydra cannot parse."""
    value = item.partition("=")[2]
    for opening, closing in (("[", "]"), ("{", "}"), ("(", ")")):
        if value.count(opening) > value.count(closing):
            return f"close the {opening}{closing}: a list is [a,b], a mapping {{k: v}}; " + OVERRIDE_HINT
    for quote in ("'", '"'):
        if value.count(quote) % 2:
            return f"close the {quote} quote; " + OVERRIDE_HINT
    return OVERRIDE_HINT


# Config groups of the shipped conf/ (a user directory may add options, not groups dlcli reads).
_GROUPS = ("model", "data", "optimizer", "train", "callbacks")


def _group_value(group: str, line: str) -> Problem:
    options = sorted({p.stem for p in (paths.conf_dir() / group).glob("*.yaml")} - {_SAVED_OPTION})
    return Problem(
        group,
        f"{line!r}: {group} is a config group, so its value picks an option by name",
        f"write {group}=NAME (options: {', '.join(options)}), or set one key: {group}.KEY=VALUE",
        COMMAND_LINE,
        "group_value",
    )


def _through_list(key: str) -> bool:
    """Whether a dotted key addresses a list item by position (`a.b.0`)."""
    return any(part.isdigit() for part in key.split("."))


def _list_item_delete(key: str) -> Problem:
    at = key.split(".")
    index = next(i for i, part in enumerate(at) if part.isdigit())
    whole = ".".join(at[:index])
    return Problem(
        key,
        "a list item cannot be deleted by its position",
        f"set the whole list without it: {whole}=[...]",
        COMMAND_LINE,
        "list_item_delete",
    )


def _undeletable(key: str) -> Problem:
    nullable = OmegaConf.structured(schema.Config)
    try:
        OmegaConf.update(nullable, key, None)
        hint = f"set it to null instead: {key}=null"
    except OmegaConfBaseException:
        hint = f"give it another value: {key}=VALUE"
    return Problem(key, "is part of the schema and cannot be deleted", hint, COMMAND_LINE, "undeletable")


def _compose(
    hydra_overrides: list[str], user: list[str], recipe: recipes.Recipe, dirs: list[Path], root: str = _ROOT
) -> DictConfig:
    GlobalHydra.instance().clear()
    try:
        # initialize() would find its caller on the stack (inspect.stack), ~0.4 s once JAX is imported;
        # the directory given here is the first that hydra.searchpath lists anyway.
        primary = dirs[-1] if dirs else paths.conf_dir()
        with initialize_config_dir(config_dir=str(Path(primary).resolve()), version_base="1.3", job_name="dlcli"):
            return hydra_compose(config_name=root, overrides=hydra_overrides)
    except MissingConfigException as exc:
        raise ConfigError(_missing_option(exc, dirs, user, recipe)) from exc
    except ConfigCompositionException as exc:
        cause = exc.__cause__ or exc.__context__  # Hydra chains a config file's error implicitly
        base = _compose(hydra_overrides[: len(hydra_overrides) - len(user)], [], recipe, dirs, root) if user else None
        listed = _list_problem(user, base)
        if listed is not None:
            raise ConfigError(listed) from exc
        if isinstance(cause, OmegaConfBaseException):
            raise ConfigError(_omegaconf_problem(cause, user, _source(exc, recipe), base)) from exc
        raise ConfigError(_override_problem(exc, base, user, recipe)) from exc
    except HydraException as exc:
        raise ConfigError(Problem("", foreign.first_line(exc), code="foreign")) from exc
    except yaml.YAMLError as exc:  # a group file that is not valid YAML
        raise ConfigError(Problem("", f"a config file is not valid YAML: {' '.join(str(exc).split())}")) from exc
    except (
        TypeError,
        ValueError,
        KeyError,
        AssertionError,
    ) as exc:  # OmegaConf's own, when an override walks into a list or a null
        if foreign.hydra_defaults_not_list(exc):
            raise ConfigError(
                Problem(
                    "defaults",
                    "is not a list",
                    "a recipe's defaults is a list of group choices, e.g. defaults: [{override /model: digits_mlp}]",
                    Origin("recipe", str(recipe.path)),
                    "defaults_not_list",
                )
            ) from exc
        base = _compose(hydra_overrides[: len(hydra_overrides) - len(user)], [], recipe, dirs, root) if user else None
        raise ConfigError(_list_problem(user, base) or Problem("overrides", f"{type(exc).__name__}: {exc}")) from exc
    finally:
        GlobalHydra.instance().clear()


def _override_problem(
    exc: HydraException, base: DictConfig | None, user: list[str] = (), recipe: recipes.Recipe | None = None
) -> Problem:
    """`+key=v` on a key that exists, `~key` on one that does not, a group chosen twice."""
    twice = foreign.hydra_duplicate_group(exc)
    if twice is not None:
        group, choice = twice
        group = group.lstrip("/")
        added = [item for item in user if item.startswith(("+" + group + "=", "+/" + group + "="))]
        if added:
            return Problem(
                group,
                f"{added[0]!r} adds a second choice for the group, which the recipe has already chosen",
                f"drop the '+': {added[0][1:]}",
                COMMAND_LINE,
                "already_set",
            )
        option = choice.partition(":")[2].strip()
        return Problem(
            "defaults",
            f"chooses {group} a second time ({option}) without 'override'",
            f"in the recipe's defaults write: - override /{group}: {option}",
            Origin("recipe", str(recipe.path)) if recipe else None,
            "already_set",
        )
    group = foreign.hydra_no_such_group(exc)
    if group is not None:
        groups = (*_GROUPS, "distribution")
        return Problem(
            "defaults",
            f"'override /{group}' names no config group",
            did_you_mean(group.lstrip("/"), groups) or f"groups: {', '.join(groups)}",
            Origin("recipe", str(recipe.path)) if recipe else None,
            "no_such_group",
        )
    known = foreign.hydra_override(exc)
    if known is None:
        return Problem("overrides", foreign.first_line(exc), code="foreign")
    code, key = known
    if code == "already_set":
        return Problem(key, "already set, so it cannot be added", f"drop the '+': {key}=VALUE", COMMAND_LINE, code)
    parent, _, name = key.rpartition(".")
    if name in _keys_at(parent):
        return _undeletable(key)
    return unknown_key(key, "nothing to delete", base, origin=COMMAND_LINE)


def _list_problem(user: list[str], base: DictConfig | None) -> Problem | None:
    """An override whose key walks where the config has no mapping: a list item by a name
    (`model.outputs.gender.x` when outputs is a list), past a list's end, or into a null or a value."""
    for item in user:
        parts = item.lstrip("+~").split("=", 1)[0].split(".")
        node: object = base
        for i, part in enumerate(parts):
            at = ".".join(parts[:i])
            if isinstance(node, ListConfig) and not part.isdigit():
                hint = f"its items are addressed by position ({at}.0, {at}.1, ...)"
                if at == "model.outputs":
                    hint = f"per-output settings of a list go in model.loss, model.loss_weights and model.metrics (e.g. model.loss_weights.{part}=...)"
                return Problem(
                    at,
                    f"is a list in this config ({_brief(node)}), so {part!r} cannot index it",
                    hint,
                    COMMAND_LINE,
                    "not_a_mapping",
                )
            if isinstance(node, ListConfig) and int(part) >= len(node):
                return Problem(
                    at,
                    f"is a list of {len(node)} item{'s' * (len(node) != 1)} in this config ({_brief(node)}), so it has no item {part}",
                    f"set the whole list: {at}=[...]",
                    COMMAND_LINE,
                    "index_out_of_range",
                )
            if i and base is not None and not isinstance(node, (DictConfig, ListConfig)):
                if node is None and OmegaConf.select(base, at, default=_ABSENT) is _ABSENT:
                    return None  # not in the config at all: an unknown key, told elsewhere
                what = "null" if node is None else f"a single value ({node!r})"
                hint = f"set it whole: {at}=[...] or {at}={{key: value}}" if node is None else f"set it: {at}=VALUE"
                return Problem(
                    at,
                    f"is {what} in this config, so {'.'.join(parts[i:])!r} cannot be set inside it",
                    hint,
                    COMMAND_LINE,
                    "not_a_container",
                )
            node = (
                node.get(part)
                if isinstance(node, DictConfig)
                else node[int(part)]
                if isinstance(node, ListConfig)
                else None
            )
    return None


_ABSENT = object()


def _brief(items: ListConfig) -> str:
    if all(isinstance(v, (str, int, float)) for v in items):
        return f"[{', '.join(map(str, items))}]"
    return f"{len(items)} items"


def _missing_option(exc: MissingConfigException, dirs: list[Path], user: list[str], recipe: recipes.Recipe) -> Problem:
    missing = str(exc.missing_cfg_file or "")
    group, _, option = missing.rpartition("/")
    in_recipe = Origin("recipe", str(recipe.path))
    if group == "recipe" or group.startswith("recipe/"):  # a recipe's defaults entry without the leading /
        real = group.partition("/")[2]
        if not real:
            return Problem(
                "defaults",
                f"entry {option!r} names no config group option",
                "defaults entries choose group options, e.g. - override /model: digits_mlp",
                in_recipe,
                "unknown_option",
            )
        return Problem(
            "defaults",
            f"entry '{real}: {option}' is looked up inside the recipe's own group ({group}), where there is none",
            f"name the group from the top: - override /{real}: {option}",
            in_recipe,
            "unknown_option",
        )
    # Hydra lists a group's options for `callbacks=x` but not for `callbacks=[x]`
    options = exc.options or sorted({p.stem for d in [*dirs, paths.conf_dir()] for p in (d / group).glob("*.yaml")})
    options = [o for o in options if o != _SAVED_OPTION]
    if not group:
        return Problem("", foreign.first_line(exc), code="foreign")
    hint = did_you_mean(option, options)
    listing = f"options for {group}: " + ", ".join(options)
    chosen_here = any(item.lstrip("+~").split("=", 1)[0].lstrip("/") == group for item in user)
    return Problem(
        group,
        f"no config {option!r} in group {group!r}",
        f"{hint} {listing}" if hint else listing,
        COMMAND_LINE if chosen_here else in_recipe if _recipe_chooses(recipe, group) else None,
        code="unknown_option",
    )


def _recipe_chooses(recipe: recipes.Recipe, group: str) -> bool:
    """Whether the recipe file's defaults list names `group` (so a bad option there is the recipe's)."""
    try:
        entries = OmegaConf.load(recipe.path).get("defaults") or []
    except Exception:  # a saved run's config, or a file read once already: no origin then
        return False
    keys = [str(k) for e in entries if isinstance(e, DictConfig) for k in e.keys()]
    return any(k.replace("override", "").strip().lstrip("/") == group for k in keys)


def _origin(key: str, user: list[str]) -> Origin | None:
    """The command line, for keys the user's overrides set (OmegaConf keeps no line numbers); else None."""
    for item in user:
        set_key, _, value = item.lstrip("+~").partition("=")
        choice = "." not in set_key and not value.lstrip().startswith(
            "{"
        )  # data=npz picks a group option: its values are defaults
        if key == set_key or (key.startswith(set_key + ".") and not choice):
            return COMMAND_LINE
    return None


@contextmanager
def blaming_overrides(user: list[str]):
    """Problems found after composing (graph, data, Keras checks) say so when an override set their key."""
    try:
        yield
    except ConfigError as exc:
        for problem in exc.problems:
            if problem.origin is None:
                problem.origin = _origin(problem.key, user)
        raise


def _source(exc: ConfigCompositionException, recipe: recipes.Recipe) -> Origin:
    """The file Hydra was merging ("In 'data/mine': ..."): the recipe's path, or the group option."""
    merging = foreign.hydra_merging(exc)
    if merging is None or merging == f"recipe/{recipe.name}":
        return Origin("recipe", str(recipe.path))
    return Origin("group", merging)


def _omegaconf_problem(
    err: OmegaConfBaseException, user: list[str], source: Origin, base: DictConfig | None
) -> Problem:
    key = str(getattr(err, "full_key", "") or "")
    dotted = key.replace("[", ".").replace("]", "")  # a list item: 'a.b[0]' is set by a.b=[...] or a.b.0=...
    set_here = [
        k
        for k in (item.lstrip("+~").split("=", 1)[0] for item in user)
        if k in (key, dotted) or k.startswith(key + ".") or dotted.startswith(k + ".")
    ]
    origin = COMMAND_LINE if set_here else source
    if isinstance(err, ValidationError):
        expected = foreign.omegaconf_expected(err)
        if expected:
            want, value = expected
            got = f", got {value!r}" if value is not None else ""
            return Problem(key, f"expected {want}{got}", origin=origin, code="wrong_type")
        refused = foreign.omegaconf_refusal(err)
        if refused:
            return _refusal(key, *refused, origin)
        return Problem(key, foreign.first_line(err), origin=origin, code="foreign")
    if isinstance(err, (ConfigKeyError, ConfigAttributeError)):
        return unknown_key(key, "unknown key", base, origin=origin)
    refused = foreign.omegaconf_refusal(err)
    if refused:
        return _refusal(key, *refused, origin)
    return Problem(key, foreign.first_line(err), origin=origin, code="foreign")


# Names from Keras 2 and other libraries that dlcli (or Keras 3) spells differently.
_RENAMED = {
    ("optimizer", "lr"): "Keras 3 calls it learning_rate: optimizer.learning_rate=VALUE",
    ("optimizer", "decay"): "Keras 3 optimizers have no decay; give a schedule:"
    " optimizer.learning_rate={class: InverseTimeDecay, initial_learning_rate: 0.01, decay_steps: 1, decay_rate: 0.5}",
}


def _refusal(key: str, code: str, parts: dict[str, str], origin: Origin | None) -> Problem:
    """OmegaConf's refusal of a value the schema's type does not take, in dlcli's words."""
    if code == "not_optional":
        default = OmegaConf.select(OmegaConf.structured(schema.Config), key, default=None)
        hint = f"give it a value (its default is {default!r}), or drop the override" if default is not None else None
        return Problem(key, "must not be null", hint, origin, code)
    if code == "not_a_bool":
        return Problem(key, f"expected true or false, got {parts['value']!r}", None, origin, "wrong_type")
    if code == "not_in_enum":
        options = [o.strip() for o in parts["options"].split(",")]
        hint = did_you_mean(parts["value"], options)
        return Problem(key, f"expected one of {', '.join(options)}, got {parts['value']!r}", hint, origin, code)
    if code == "not_a_list":
        return Problem(key, "expected a list", f"write a list: {key}=[a,b]", origin, "wrong_type")
    if code == "not_a_section":
        key = key or _section_of(parts["schema"])
        example = ", ".join(f"{f.name}: ..." for f in dataclasses.fields(getattr(schema, parts["schema"]))[:2])
        return Problem(
            key,
            f"expected a section of settings, got {_A.get(parts['type'], parts['type'])}",
            f"write {key}: {{{example}}}",
            origin,
            "wrong_type",
        )
    return Problem(key, "expected a mapping of keys to values", f"write {key}={{key: value}}", origin, "wrong_type")


_A = {"int": "a number", "float": "a number", "str": "a string", "list": "a list", "bool": "true or false"}


def _section_of(name: str, cls: type = schema.Config, prefix: str = "") -> str:
    """The key of the schema's section of dataclass `name` (DataConfig: data; PreprocessConfig: data.preprocess)."""
    for f in dataclasses.fields(cls):
        kind = getattr(schema, str(f.type), None)
        if str(f.type) == name:
            return prefix + f.name
        if dataclasses.is_dataclass(kind) and (found := _section_of(name, kind, f"{prefix}{f.name}.")):
            return found
    return ""


def unknown_key(key: str, message: str, base: DictConfig | None = None, *, origin: Origin | None = None) -> Problem:
    """Did-you-mean from the schema's keys, or for open mappings (nodes, callbacks) from the recipe's own."""
    parent, _, name = key.rpartition(".")
    siblings = _keys_at(parent)
    if not siblings and base is not None:
        node = OmegaConf.select(base, parent) if parent else base
        if isinstance(node, DictConfig) and node:
            has = f"{parent or 'the config'} has: {', '.join(map(str, node.keys()))}"
            hint = did_you_mean(name, list(node.keys()))
            if hint and "class" in node:  # a layer's (or callback's) arguments: a new one is as likely as a typo
                return Problem(
                    key, message, f"{hint} {has}; or, to add {name!r}, write +{key}=VALUE", origin, "unknown_key"
                )
            hint = f"{hint} {has}" if hint else f"{has}; to add {name!r}, write +{key}=VALUE"
            return Problem(key, message, hint, origin, "unknown_key")
    hint = did_you_mean(name, siblings)
    renamed = _RENAMED.get((parent, name))
    if renamed:
        return Problem(key, message, renamed, origin, "unknown_key")
    if parent == "optimizer" and not hint:  # Keras arguments beyond name and learning rate
        return Problem(
            key,
            message,
            f"the optimizer's other Keras arguments go in optimizer.options: +optimizer.options.{name}=VALUE",
            origin,
            "unknown_key",
        )
    valid = f"valid keys: {', '.join(siblings)}" if siblings else f"if you mean to add it, write +{key}=VALUE"
    return Problem(key, message, " ".join(x for x in (hint, valid) if x), origin, "unknown_key")


def _keys_at(dotted: str) -> list[str]:
    """Keys the schema allows at a dotted path (empty for open mappings)."""
    node = schema.structured()
    for part in [p for p in dotted.split(".") if p]:
        node = node.get(part) if isinstance(node, DictConfig) else None
        if node is None:
            return []
    return list(node.keys()) if isinstance(node, DictConfig) and OmegaConf.get_type(node) is not dict else []


def _check_schema(cfg: DictConfig, user: list[str]) -> None:
    """`+train.new=1` slips past Hydra (it opens the node); the schema still forbids it."""
    try:
        OmegaConf.merge(schema.structured(), OmegaConf.to_container(cfg))
    except OmegaConfBaseException as err:
        key = str(getattr(err, "full_key", "") or "")
        raise ConfigError(unknown_key(key, "not a key of the schema", origin=_origin(key, user))) from err


_INTERPOLATION_HINT = "interpolations look like ${train.epochs} (another key) or ${oc.env:VAR,default}"


def _check_interpolations(cfg: DictConfig, user: list[str], source: Origin) -> None:
    """Every `${...}` resolves: a missing key, a value referring to itself, an unknown resolver or
    an unset environment variable is a config error naming the key, before anything else reads it."""
    try:
        OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException as err:
        key = str(getattr(err, "full_key", "") or "")
        raise ConfigError(_interpolation_problem(err, key, _raw(cfg, key), _value_origin(key, user, source))) from err


def check_saved(cfg: DictConfig, source: Path) -> None:
    """A saved run's interpolations resolve (an unset ${oc.env:VAR} says so), as compose checks a recipe's."""
    _check_interpolations(cfg, [], Origin("recipe", str(source)))


def _interpolation_problem(err: OmegaConfBaseException, key: str, raw: object, origin: Origin | None) -> Problem:
    shown = f"{raw!r}" if isinstance(raw, str) else "its interpolation"
    code, name = foreign.interpolation(err) or ("", "")
    if code == "interpolation_key":
        hint = did_you_mean(name, _all_keys(err)) or _INTERPOLATION_HINT
        return Problem(key, f"{shown} refers to {name!r}, which is not a key of the config", hint, origin, code)
    if code == "env_missing":
        hint = f"set it, or give a default: ${{oc.env:{name},VALUE}}"
        return Problem(key, f"{shown} reads the environment variable {name!r}, which is not set", hint, origin, code)
    if code == "resolver":
        message = f"{shown} uses {name!r}, which is not a resolver dlcli has (a config never runs code)"
        return Problem(key, message, _INTERPOLATION_HINT, origin, "unknown_resolver")
    if code == "recursive":
        message = f"{shown} cannot be resolved: it refers to itself, or to a key that refers back to it"
        return Problem(key, message, "give a value, or refer to another key", origin, "interpolation_cycle")
    expected = foreign.omegaconf_expected(err) if isinstance(err, ValidationError) else None
    if expected:
        want, value = expected
        got = f", got {value!r}" if value is not None else ""
        return Problem(key, f"{shown} resolves to the wrong type: expected {want}{got}", None, origin, "wrong_type")
    return Problem(
        key, f"{shown} cannot be resolved: {foreign.first_line(err)}", _INTERPOLATION_HINT, origin, "foreign"
    )


def _all_keys(err: OmegaConfBaseException) -> list[str]:
    """Every dotted key of the config an error came from (did-you-mean for `${...}` targets)."""
    root = getattr(err, "parent_node", None)
    while root is not None and root._get_parent() is not None:
        root = root._get_parent()
    if not isinstance(root, DictConfig):
        return []
    found: list[str] = []

    def walk(node: object, prefix: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                found.append(f"{prefix}{k}")
                walk(v, f"{prefix}{k}.")

    walk(OmegaConf.to_container(root, resolve=False), "")
    return found


def _raw(cfg: DictConfig, key: str) -> object:
    """A value as written (interpolations unresolved), by a key such as 'a.b[0]'; None if absent."""
    node: object = OmegaConf.to_container(cfg, resolve=False)
    for part in [p for p in key.replace("[", ".").replace("]", "").split(".") if p]:
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def _value_origin(key: str, user: list[str], source: Origin) -> Origin | None:
    """The command line when an override set the key; the recipe (or saved config) when its file holds it."""
    origin = _origin(key, user)
    if origin is not None:
        return origin
    try:
        written = OmegaConf.load(source.name)
    except Exception:  # the file was read once already; a second failure just means no origin
        return None
    return source if _raw(written, key) is not None else None


def compose_saved(
    saved: DictConfig, source: Path, overrides: list[str], extra_dirs: list[str] | None = None
) -> DictConfig:
    """A saved run's config with overrides, composed by Hydra as `train` composes a recipe.

    The saved config is the primary config; its callbacks (and distribution) are the default
    option of that group, so `callbacks=early_stopping` (`distribution=single`) picks from the
    shipped and `--config-dir` groups instead, as it does for a new run. `source` is the file
    the saved config came from, for error messages.
    """
    dirs = config_dirs(extra_dirs)
    _parse(overrides)
    body = OmegaConf.to_container(saved, resolve=False)  # interpolations stay interpolations
    store = ConfigStore.instance()
    schema.register()
    for group in _SAVED_GROUPS:  # the run's own, as the default option of its group
        store.store(group=group, name=_SAVED_OPTION, node=body.pop(group, None) or {})
    defaults = ["dlcli_schema", *({g: _SAVED_OPTION} for g in _SAVED_GROUPS), "_self_"]
    store.store(name=_SAVED, node={"defaults": defaults, **body})
    search = ",".join(f"file://{d}" for d in [*reversed(dirs), paths.conf_dir()])
    recipe = recipes.Recipe(_SAVED, source, "")
    cfg = _compose([f"hydra.searchpath=[{search}]", *overrides], overrides, recipe, dirs, root=_SAVED)
    _check_schema(cfg, overrides)
    _check_interpolations(cfg, overrides, Origin("recipe", str(source)))
    return cfg
