"""The errors dlcli shows users, and the exit code each one means.

Every problem a user can fix is a `ConfigError` (exit 2) that names the config
key, says what was expected and, where one fits, suggests a correction. The CLI
prints them as one screen; `--debug` adds the traceback.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Literal

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


@dataclass(frozen=True)
class Origin:
    """Where a config value came from, as far as dlcli can tell (OmegaConf keeps no line numbers).

    `kind` is "command_line" (an override), "recipe" (`name`: the recipe file's path) or
    "group" (`name`: the group option Hydra merged, such as "data/mine").
    """

    kind: Literal["command_line", "recipe", "group"]
    name: str = ""

    def render(self) -> str:
        """The text appended to a problem's message: ' (set on the command line)', ' (in <file>)'."""
        if self.kind == "command_line":
            return " (set on the command line)"
        return f" (in config {self.name})" if self.kind == "group" else f" (in {self.name})"


COMMAND_LINE = Origin("command_line")


@dataclass
class Problem:
    """One thing wrong with a config: where (dotted key), what, and how to fix it.

    `origin`: where the offending value came from (None: not known, or not a config value).
    `code`: a short, stable, machine-readable name of the kind of problem ("unknown_key",
    "wrong_type", "foreign" for a third-party error shown as it is, ...), or None.
    """

    key: str
    message: str
    hint: str | None = None
    origin: Origin | None = None
    code: str | None = None

    def render(self) -> str:
        where = f"{self.key}: " if self.key else ""
        text = f"error: {where}{self.message}{self.origin.render() if self.origin else ''}"
        if self.hint:
            text += f"\nhint: {self.hint}"
        return text


class DlcliError(Exception):
    exit_code = EXIT_FAILED

    def __init__(self, problems: Problem | Iterable[Problem] | str):
        if isinstance(problems, str):
            problems = [Problem("", problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = list(problems)
        super().__init__("\n".join(p.render() for p in self.problems))


class ConfigError(DlcliError):
    """A usage or config mistake: exit 2, before anything is trained."""

    exit_code = EXIT_USAGE


class RunFailed(DlcliError):
    """The run itself failed (NaN loss, a component raised): exit 1."""

    exit_code = EXIT_FAILED


class Interrupted(DlcliError):
    """Ctrl-C during training: the run's state is saved; exit 130 and say how to resume.

    `run_dir`: the run `dlcli train --resume` continues, when there is one (a driver that made
    several runs names what else finishes its work beside it)."""

    exit_code = EXIT_INTERRUPTED

    def __init__(self, problems: Problem | Iterable[Problem] | str, run_dir: Path | None = None):
        super().__init__(problems)
        self.run_dir = run_dir


@dataclass
class Collector:
    """Gathers every problem of a validation pass so users see them all at once."""

    problems: list[Problem] = field(default_factory=list)

    def add(self, key: str, message: str, hint: str | None = None, *, code: str | None = None) -> None:
        self.problems.append(Problem(key, message, hint, code=code))

    def raise_if_any(self) -> None:
        if self.problems:
            raise ConfigError(self.problems)


def did_you_mean(word: str, candidates: Iterable[str], n: int = 3) -> str | None:
    """A 'did you mean X?' hint, or None when nothing is close."""
    close = difflib.get_close_matches(str(word), sorted(set(candidates)), n=n, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in candidates}
        if str(word).lower() in lowered:
            close = [lowered[str(word).lower()]]
    if not close:
        return None
    return "did you mean " + " or ".join(repr(c) for c in close) + "?"
