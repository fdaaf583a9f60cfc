"""The recipe registry, built from the files on disk (never a hand-kept list).

A recipe is one YAML file that picks config-group options in its `defaults`
list and sets values. Shipped recipes live in `recipes/`; users add theirs with
`--config-dir DIR` (DIR/recipes/ or DIR's top level) or name a file directly.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from dlcli import paths
from dlcli.errors import ConfigError, Problem, did_you_mean


@dataclass(frozen=True)
class Recipe:
    name: str
    path: Path
    description: str


def _describe(path: Path) -> str:
    """The recipe's description; a file that is not valid YAML is listed as such (using it reports the error)."""
    try:
        stat = path.stat()
    except OSError:
        return f"(not a readable UTF-8 text file: {path})"
    return _described(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=1024)
def _described(path: Path, mtime_ns: int, size: int) -> str:
    """Keyed by the file's time and size: every compose resolves its recipe through `discover`, and a
    sweep or test run composes hundreds of times in one process; an edited recipe is read again."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (UnicodeDecodeError, OSError):
        return f"(not a readable UTF-8 text file: {path})"
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return f"(not valid YAML{f', line {mark.line + 1}' if mark else ''}: {path})"
    return str(data.get("description", "")).strip() if isinstance(data, dict) else ""


def _recipe_files(root: Path, top_level: bool) -> dict[str, Path]:
    found: dict[str, Path] = {}
    if top_level:
        for path in sorted(root.glob("*.yaml")):
            if path.name != "config.yaml" and path.is_file():
                found[path.stem] = path
    recipes = root / "recipes" if top_level else root
    for path in sorted(p for p in recipes.rglob("*.yaml") if p.is_file()):
        found[path.relative_to(recipes).with_suffix("").as_posix()] = path
    return found


def discover(config_dirs: list[Path] = ()) -> dict[str, Recipe]:
    """Every recipe by name; a user directory's recipe replaces a shipped one of the same name."""
    files = _recipe_files(paths.recipes_dir(), top_level=False)
    for directory in config_dirs:
        files.update(_recipe_files(directory, top_level=True))
    return {name: Recipe(name, path, _describe(path)) for name, path in sorted(files.items())}


_KEY = re.compile(r"[A-Za-z_][\w.-]*")
_SHAPE = "see recipes/mnist_dropout.yaml for the shape of a recipe"


def check_mapping(path: Path) -> None:
    """A recipe file is a YAML mapping of config keys. Anything else (another kind of file given as
    recipe=PATH) is refused as such, naming the file but never echoing what it holds."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            Problem(
                "recipe",
                f"{path} is not a text file (not UTF-8 at byte {exc.start}), so not a YAML recipe",
                f"save it as UTF-8; {_SHAPE}",
                code="not_utf8",
            )
        ) from None
    except OSError as exc:
        raise ConfigError(Problem("recipe", f"cannot read {path}: {exc.strerror or exc}", code="unreadable")) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:  # its line and the problem; YAML's own message quotes the file's text
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ConfigError(Problem("recipe", f"cannot read {path}: not valid YAML ({where}: {problem})")) from None
    if data is None or isinstance(data, dict) and all(isinstance(k, str) and _KEY.fullmatch(k) for k in data):
        _check_base_60(yaml.compose(text), path)
        return
    if isinstance(data, list):
        what = "holds a YAML list, not a mapping of config keys"
    elif isinstance(data, dict):
        what = "is not a recipe: its top level is not a mapping of config keys (its content is not shown)"
    else:
        what = "is not a recipe: it holds YAML text, not a mapping of config keys (its content is not shown)"
    raise ConfigError(Problem("recipe", f"{path} {what}", _SHAPE))


_BASE_60 = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")


def _check_base_60(node, path: Path, key: str = "") -> None:
    """YAML 1.1, which PyYAML and so OmegaConf read, takes an unquoted 1:3 for the base-60 number 63: a
    column slice (`features: 1:3`) would pick column 63. No one means base 60: refused, asking for quotes."""
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            _check_base_60(v, path, f"{key}.{k.value}" if key else str(k.value))
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            _check_base_60(v, path, f"{key}.{i}")
    elif isinstance(node, yaml.ScalarNode) and node.style is None and node.tag in _BASE_60 and ":" in node.value:
        raise ConfigError(
            Problem(
                key,
                f"YAML reads the unquoted {node.value} as a base-60 number ({yaml.safe_load(node.value)}) in {path}",
                f"quote it: '{node.value}'",
            )
        )


def resolve(identifier: str, config_dirs: list[Path] = ()) -> Recipe:
    """A recipe by registry name or by path to a YAML file; one that is not a YAML mapping is refused."""
    looks_like_path = identifier.endswith((".yaml", ".yml")) or "/" in identifier and Path(identifier).exists()
    if looks_like_path:
        path = Path(identifier).expanduser()
        if path.is_dir():
            raise ConfigError(
                Problem(
                    "recipe",
                    f"{identifier!r} is a directory, not a recipe file",
                    "give a YAML file: recipe=DIR/NAME.yaml",
                )
            )
        if not path.is_file():
            raise ConfigError(Problem("recipe", f"no recipe file {identifier!r} (resolved to {path.resolve()})"))
        check_mapping(path)
        return Recipe(path.stem, path.resolve(), _describe(path))
    known = discover(config_dirs)
    if identifier in known:
        check_mapping(known[identifier].path)
        return known[identifier]
    hint = did_you_mean(identifier, known)
    listing = "recipes: " + ", ".join(known)
    raise ConfigError(Problem("recipe", f"unknown recipe {identifier!r}", f"{hint} {listing}" if hint else listing))
