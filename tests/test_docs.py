"""Every command the reference pages in docs/ show runs, and exits as the page says.

A page's ```console blocks hold commands (`$ ...`, continued by a trailing backslash), run in
order in one fresh directory per page, so `latest` is the page's previous run. A command ends
with `# exit N` when it should fail that way, or `# not run: REASON` when it cannot run here.
The `error:` and `hint:` lines a page shows under a command must be what it prints (spaces
aside). A block whose first line is `# file: PATH` is written to PATH before what follows runs.
`dlcli` commands run in this process (CliRunner), anything else through bash.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "docs").glob("*.md"))
FENCE = re.compile(r"^```(\S*)[^\n]*\n(.*?)^```", re.M | re.S)
TAIL = re.compile(r"\s+#\s*(exit\s+(\d+)|not run:.*)$")
SHELL = re.compile(r"[|<>;&`]|\$\(")  # a pipe, redirect or substitution: the command goes to bash


@dataclass
class Command:
    line: str
    exit: int = 0
    run: bool = True
    shown: list[str] = field(default_factory=list)  # the error:/hint: lines the page shows


def steps(text: str) -> list[Command | tuple[str, str]]:
    """The page's files to write and commands to run, in page order."""
    out: list = []
    for lang, body in FENCE.findall(text):
        first, _, rest = body.partition("\n")
        if first.startswith("# file:"):
            out.append((first.removeprefix("# file:").strip(), rest))
        elif lang == "console":
            out.extend(_commands(body))
    return out


def _commands(body: str) -> list[Command]:
    commands: list[Command] = []
    lines = iter(body.splitlines())
    for raw in lines:
        if not raw.startswith("$ "):
            if commands and raw.startswith(("error:", "hint:")):
                commands[-1].shown.append(raw)
            elif commands and commands[-1].shown and raw.strip() and not raw.startswith(("$", " ")):
                commands[-1].shown[-1] += " " + raw  # a wrapped error or hint line
            continue
        line = raw[2:]
        while line.endswith("\\"):
            line = line[:-1] + next(lines).strip()
        command = Command(line)
        tail = TAIL.search(line)
        if tail:
            command.line = line[: tail.start()]
            command.run = tail.group(2) is not None
            command.exit = int(tail.group(2) or 0)
        commands.append(command)
    return commands


def _squash(text: str) -> str:
    return " ".join(text.split())


def test_every_page_is_in_the_mkdocs_nav():
    nav = (ROOT / "mkdocs.yml").read_text()
    assert PAGES and all(page.name in nav for page in PAGES)


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_page_commands_run_as_shown(page, cli, in_tmp):
    for step in steps(page.read_text()):
        if isinstance(step, tuple):
            path = in_tmp / step[0]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(step[1])
            continue
        if not step.run:
            continue
        words = shlex.split(step.line, comments=True)
        if words[0] == "dlcli" and not SHELL.search(step.line):
            code, out, err = cli(*words[1:])
        else:
            shim = in_tmp / ".bin"
            shim.mkdir(exist_ok=True)
            (shim / "dlcli").write_text(f'#!/bin/sh\nexec {sys.executable} -m dlcli "$@"\n')
            (shim / "dlcli").chmod(0o755)
            done = subprocess.run(
                ["bash", "-c", f'PATH="{shim}:$PATH" PYTHONPATH="{ROOT}" {step.line}'],
                capture_output=True,
                text=True,
                cwd=in_tmp,
            )
            code, out, err = done.returncode, done.stdout, done.stderr
        assert code == step.exit, f"{page.name}: `{step.line}` exited {code}, the page says {step.exit}\n{out}\n{err}"
        for shown in step.shown:
            assert _squash(shown) in _squash(out + err), f"{page.name}: `{step.line}` does not print {shown!r}"


def test_mkdocs_builds_the_pages(tmp_path):
    pytest.importorskip("mkdocs")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
