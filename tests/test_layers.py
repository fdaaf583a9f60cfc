"""The layers written in the README's Layout section hold: no upward import, no cycle.

Every import counts, those inside functions included (they are how commands
keep Keras out of `--help`, not a way around the layers).
"""

import ast
import graphlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "dlcli"


def _layers() -> list[list[str]]:
    """The README's layer block: one line per layer, top first, each `name path...`."""
    layout = (ROOT / "README.md").read_text().split("## Layout", 1)[1]
    block = re.search(r"```text\n# layers.*?\n(.*?)```", layout, re.S).group(1)
    return [line.split()[1:] for line in block.strip().splitlines()]


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """dlcli modules this file imports; `from dlcli.x import y` counts y when it is a module."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("dlcli"))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("dlcli"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if _exists(sub) else node.module)
    return found


def _exists(module: str) -> bool:
    base = ROOT.joinpath(*module.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _graph() -> dict[str, set[str]]:
    return {_module(p): _imports(p) - {_module(p)} for p in PACKAGE.rglob("*.py")}


def _rank(module: str, layers: list[list[str]]) -> int:
    path = module.replace(".", "/")
    for rank, prefixes in enumerate(layers):
        for prefix in prefixes:
            prefix = prefix.removesuffix(".py").removesuffix("/__init__").rstrip("/")
            if path == prefix or path.startswith(prefix + "/"):
                return rank
    raise AssertionError(f"{module} is in no layer of the README's Layout section")


def test_every_module_is_in_a_layer():
    layers = _layers()
    for module in _graph():
        _rank(module, layers)


def test_no_module_imports_from_a_higher_layer():
    layers = _layers()
    upward = [
        f"{module} -> {target}"
        for module, targets in _graph().items()
        for target in targets
        if _rank(target, layers) < _rank(module, layers)
    ]
    assert not upward, "imports up the layers:\n" + "\n".join(sorted(upward))


def test_no_import_cycle():
    try:
        tuple(graphlib.TopologicalSorter(_graph()).static_order())
    except graphlib.CycleError as exc:
        raise AssertionError(f"import cycle: {' -> '.join(exc.args[1])}") from None


def test_the_checker_sees_an_upward_import(tmp_path):
    """The walk is not vacuous: a function-level import of a higher layer is found."""
    source = tmp_path / "x.py"
    source.write_text("def f():\n    from dlcli.cli import render\n")
    assert "dlcli.cli.render" in _imports(source)
    layers = _layers()
    assert _rank("dlcli.cli.render", layers) < _rank("dlcli.errors", layers)
