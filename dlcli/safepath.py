"""Containment: a path that config names for dlcli to write (or delete) stays inside a root.

Used for callbacks' paths (inside the run directory), run names (inside the
runs directory) and the folders dlcli fills in a run. Two checks, both needed:

- `relative_inside`: the text alone, so it holds for whatever root it is later
  joined to (callbacks are checked once at build time, before the run directory
  exists): not absolute (nor `~`), and no `..` that climbs out after normalizing.
- `inside`: the joined path after `Path.resolve()` (symlinks and `..`) is still
  under the root, once the root exists.

Kept free of Keras imports.
"""

from __future__ import annotations

import os
import re
import string
import unicodedata
from pathlib import Path, PurePosixPath
from typing import Any

from dlcli.errors import ConfigError, Problem


def relative_inside(value: str | os.PathLike) -> str | None:
    """Why `value`, joined to any root, would leave that root or be the root itself; None when it stays inside."""
    text = str(value)
    if not text.strip():
        return "is empty"
    if text.startswith("~"):
        return f"{text!r} is in a home directory"
    if Path(text).is_absolute() or PurePosixPath(text).is_absolute() or os.path.splitdrive(text)[0]:
        return f"{text!r} is an absolute path"
    normal = os.path.normpath(text)
    if normal == ".":
        return f"{text!r} is the directory itself"
    if normal == ".." or normal.startswith(".." + os.sep) or normal.startswith("../"):
        return f"{text!r} climbs out with '..'"
    return None


def inside(root: str | os.PathLike, value: str | os.PathLike) -> Path:
    """`root / value`, refused (ValueError with the reason) unless it resolves strictly inside `root`."""
    reason = relative_inside(value)
    if reason:
        raise ValueError(reason)
    root = Path(root)
    joined = root / str(value)
    real_root, real = _resolve(root), _resolve(joined)
    if real == real_root or not real.is_relative_to(real_root):
        raise ValueError(f"{str(value)!r} resolves to {real}, {_through(root, str(value))} out of {real_root}")
    return joined


def _resolve(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError) as exc:  # a loop of links (RuntimeError before Python 3.13)
        raise ValueError(f"{path} cannot be followed: {exc}") from None


def _through(root: Path, value: str) -> str:
    """The link under `root` that `value` passes through on its way out, in words."""
    real_root, path = root.resolve(), root
    for part in Path(value).parts:
        path = path / part
        if path.is_symlink() and not path.resolve().is_relative_to(real_root):
            return f"through the link {path} -> {os.readlink(path)} that leads"
    return "through a link that leads"


def check(root: str | os.PathLike | None, value: str | os.PathLike, key: str, what: str, hint: str) -> Path | None:
    """`inside`, as a ConfigError naming `key`; with `root` None only the text is checked (returns None)."""
    try:
        if root is None:
            reason = relative_inside(value)
            if reason:
                raise ValueError(reason)
            return None
        return inside(root, value)
    except ValueError as exc:
        raise ConfigError(Problem(key, f"{exc}: {what}", hint)) from None


def check_run_location(root: Any, name: Any) -> None:
    """run.dir and run.name as config gives them: a runs directory that is named, and a run name
    that stays inside it (no absolute path, no '..' that climbs out), both fit to name folders,
    and no folder of run.name hidden (a leading '.'), as `rundir.runs` skips those.
    ConfigError naming the key. The text alone: `check_run_place` looks at the file system."""
    problems = []
    if root is None or not str(root).strip():
        problems.append(
            Problem(
                "run.dir",
                "is empty: runs would be written into the current directory",
                "name the runs directory, e.g. run.dir=outputs (the default)",
            )
        )
    elif reason := _name_problem(str(root)):
        problems.append(Problem("run.dir", reason, "name the runs directory, e.g. run.dir=outputs (the default)"))
    hint = "a plain name (subfolders allowed), e.g. run.name=mnist/baseline; set run.dir to change where runs go"
    try:
        check(None, "" if name is None else name, "run.name", "runs are kept inside run.dir", hint)
    except ConfigError as exc:
        problems.extend(exc.problems)
    else:
        if reason := _name_problem(str(name)):
            problems.append(Problem("run.name", reason, hint))
        elif reason := _hidden_problem(str(name)):
            parts = Path(os.path.normpath(str(name))).parts
            example = "/".join(p.lstrip(".") or "runs" for p in parts)
            problems.append(Problem("run.name", reason, f"a name without a leading '.', e.g. {example!r}"))
    if problems:
        raise ConfigError(problems)


NAME_MAX = 255  # bytes in one file or folder name (Linux and macOS file systems)


def _name_problem(text: str) -> str | None:
    """Why `text` cannot name folders: a control character (a newline would split the printed
    `run:` line), or a part longer than a folder name may be."""
    bad = next((c for c in text if unicodedata.category(c) in ("Cc", "Zl", "Zp")), None)
    if bad is not None:
        return f"{text!r} holds the control character {bad!r}"
    long = next((p for p in Path(text).parts if len(os.fsencode(p)) > NAME_MAX), None)
    if long is not None:
        return f"{long[:24]}... is {len(os.fsencode(long))} bytes long: a folder name holds at most {NAME_MAX}"
    return None


def _hidden_problem(name: str) -> str | None:
    """Why a run name would make a run no one finds: a folder of it starts with '.' (`rundir.runs` skips those)."""
    hidden = next((p for p in Path(os.path.normpath(name)).parts if p.startswith(".")), None)
    if hidden is None:
        return None
    return f"{name!r}: the folder {hidden!r} starts with '.', and a hidden folder is never a run (runs list skips it)"


def check_run_place(root: Any, name: Any) -> None:
    """Where a new run would go, as the file system has it now (after `check_run_location`): no file
    where a folder must be, and no link in the folders run.name adds that leads out of run.dir.
    run.dir may itself be a link: a runs folder on another disk is the user's own choice."""
    check_run_location(root, name)
    root = Path(root)
    in_way = next((p for p in (root, *root.parents) if p.exists()), None)
    if in_way is not None and not in_way.is_dir():
        raise ConfigError(
            Problem("run.dir", f"{in_way} is a file, not a folder", "name a folder for runs, e.g. run.dir=outputs")
        )
    hint = "choose another run.name, or remove what is in the way"
    path = root
    for part in Path(str(name)).parts:
        path = path / part
        if path.exists() and not path.is_dir():
            raise ConfigError(Problem("run.name", f"{path} is a file, not a folder of runs", hint))
    try:
        real_root, real = _resolve(root), _resolve(root / str(name))
    except ValueError as exc:
        raise ConfigError(Problem("run.name", str(exc), hint)) from None
    if not real.is_relative_to(real_root):
        raise ConfigError(
            Problem(
                "run.name",
                f"{str(name)!r} resolves to {real}, {_through(root, str(name))} out of {real_root}: "
                "runs are kept inside run.dir",
                "remove the link, or set run.dir to where it leads (run.dir itself may be a link)",
            )
        )


_NUMERIC_SPEC = re.compile(r"[+\- ]?0?\d*(\.\d+)?[deEfFgGn%]?")


def template_problem(text: str) -> str | None:
    """Why a file-name template (`ckpt/w.{epoch:02d}-{val_loss:.4f}.keras`, filled by the callback
    with str.format) is refused: only `{name}` and numeric formats may fill it. A conversion or a
    fill character can make a '/' or an empty string, and so a '..' the text check never saw."""
    try:
        fields = [
            (name, spec, conversion) for _, name, spec, conversion in string.Formatter().parse(text) if name is not None
        ]
    except ValueError as exc:
        return f"{text!r} is not a valid file-name template ({exc})"
    for name, spec, conversion in fields:
        if conversion or not name.isidentifier() or not _NUMERIC_SPEC.fullmatch(spec or ""):
            shown = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            return f"{shown} in {text!r} is not a plain {{name}} or a numeric format such as {{epoch:02d}}"
    return None


def filled(text: str) -> str:
    """The template filled with a sample value for every field, to check where it lands."""
    names = {name for _, name, _, _ in string.Formatter().parse(text) if name}
    return text.format(**dict.fromkeys(names, 1))
