"""A sweep's search space, in Hydra's own grammar: `a=1,2`, `range(...)`, `choice(...)`, `glob(...)`,
`interval(a,b)`, `tag(log, interval(a,b))`, `int(interval(a,b))`.

Hydra's override parser reads the command line, Hydra's `BasicSweeper` expands a grid (the
cartesian product, in its order), and each swept key becomes an Optuna distribution for a
search. Nothing here composes or trains: the driver (dlcli/drivers/sweep.py) does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.object_type import ObjectType
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import IntervalSweep, Override, QuotedString, RangeSweep
from hydra.errors import HydraException, OverrideParseException

from dlcli import foreign, paths
from dlcli.errors import COMMAND_LINE, ConfigError, Problem


@dataclass
class Dim:
    """One swept key: `key` as the override writes it (`+model.x` keeps its `+`), and its values
    (a list for a grid or a choice; `low`/`high`/`log`/`integer` for an interval)."""

    key: str
    values: list | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    step: int | None = None
    verbatim: bool = False  # values are Hydra's text of lists or mappings (Optuna's choices are plain values)

    def distribution(self):
        """Optuna's distribution for this key."""
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        if self.values is None:
            kind = IntDistribution if self.integer else FloatDistribution
            return kind(self.low, self.high, log=self.log)
        if self.step is not None:
            return IntDistribution(min(self.values), max(self.values), step=abs(self.step))  # range(64, 16, -16) too
        return CategoricalDistribution(self.values)

    def override(self, value: Any) -> str:
        """The override that sets this key to `value`, quoted as Hydra writes it."""
        if self.verbatim:
            return f"{self.key}={value}"
        return f"{self.key}={Override._get_value_element_as_str(value)}"

    def describe(self) -> str:
        if self.values is not None:
            return ", ".join(str(v) for v in self.values)
        kind = "int " if self.integer else ""
        return f"{kind}{'log-' if self.log else ''}interval [{self.low}, {self.high}]"


@dataclass
class Space:
    fixed: list[str]  # overrides with one value, as given
    dims: list[Dim]
    parsed: list[Override]

    @property
    def discrete(self) -> bool:
        return all(d.values is not None for d in self.dims)

    def grid(self) -> list[list[str]]:
        """Every combination, as Hydra's basic sweeper makes them (its order, its quoting)."""
        from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

        if not self.discrete:
            interval = next(d for d in self.dims if d.values is None)
            raise ConfigError(
                Problem(
                    interval.key,
                    f"an interval ({interval.describe()}) has no grid of values",
                    "search it: add --search tpe (or random) and --trials N; or give values: a,b,c or range(...)",
                    COMMAND_LINE,
                )
            )
        return BasicSweeper.split_arguments(self.parsed, None)[0]

    def corners(self) -> list[list[str]]:
        """Configs that together try every choice and both ends of every interval, and a fractional
        value inside a float interval (one key varied at a time): what a search checks before its
        first trial, since its combinations are not known yet."""
        firsts = [self._ends(d)[0] for d in self.dims]
        combos = [self.fixed + [d.override(v) for d, v in zip(self.dims, firsts)]]
        for i, dim in enumerate(self.dims):
            for value in self._ends(dim)[1:]:
                chosen = [d.override(value if j == i else firsts[j]) for j, d in enumerate(self.dims)]
                combos.append(self.fixed + chosen)
        return combos

    @staticmethod
    def _ends(dim: Dim) -> list:
        if dim.values is not None:
            return list(dim.values)
        if dim.integer:
            return [int(dim.low), int(dim.high)]
        inside = dim.low + (dim.high - dim.low) / 3  # a fraction too: a key that takes integers refuses it
        return [dim.low, dim.high, inside]


def parse(overrides: list[str], config_dirs: list[Path]) -> Space:
    """Read the overrides with Hydra's parser; sweeps become `Dim`s, the rest stay as given."""
    parser = OverridesParser.create()
    parsed, fixed, dims = [], [], []
    for item in overrides:
        try:
            (override,) = parser.parse_overrides([item])
        except OverrideParseException as exc:
            raise ConfigError(
                Problem("overrides", f"cannot parse {item!r}: {foreign.hydra_parse_reason(exc)}", None, COMMAND_LINE)
            ) from exc
        if override.is_sweep_override():
            override.config_loader = _GroupOptions(config_dirs)  # what glob(...) picks from
            dims.append(_dim(override))
        else:
            fixed.append(item)
        parsed.append(override)
    keys = [d.key.lstrip("+~") for d in dims]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise ConfigError(Problem(twice[0], "is swept twice", "give all its values in one override: key=a,b,c"))
    both = [o.get_key_element().lstrip("+~") for o in parsed if not o.is_sweep_override()]
    both = sorted(set(keys) & set(both))
    if both:  # which one would win is Hydra's business; the user meant one
        raise ConfigError(
            Problem(both[0], "is given one value and swept too", "keep one: the sweep, or the value", COMMAND_LINE)
        )
    where = sorted({k for k in keys if k in ("run.name", "run.dir")})
    if where:
        raise ConfigError(
            Problem(
                where[0],
                "says where the sweep goes: every trial is in the sweep's own folder, so sweeping it changes nothing",
                "give one value (--runs-dir for run.dir), or run one sweep per value",
                COMMAND_LINE,
            )
        )
    return Space(fixed, dims, parsed)


_INT_INTERVAL = re.compile(r"int\(\s*(?:tag\([^,()]*,\s*)?interval\(([^,()]*),([^,()]*)\)")


def _cut_ends(text: str) -> str | None:
    """The `int(interval(a, b))` in `text` with an end that is not a whole number, or None."""
    found = _INT_INTERVAL.search(text)
    for end in found.groups() if found else ():
        try:
            if not float(end).is_integer():
                return found[0] + ")"
        except ValueError:
            return None
    return None


def _dim(override: Override) -> Dim:
    key, value = override.get_key_element(), override.value()
    if isinstance(value, IntervalSweep):
        integer = isinstance(value.start, int) and isinstance(value.end, int)
        if not value.start < value.end:
            raise ConfigError(
                Problem(
                    key, f"interval({value.start}, {value.end}) is empty", "give interval(low, high) with low < high"
                )
            )
        unknown = sorted(set(value.tags) - {"log"})
        if unknown:  # a misspelt tag would silently lose the log scale
            raise ConfigError(
                Problem(
                    key,
                    f"unknown tag {unknown[0]!r} in {override.input_line!r}",
                    "the one tag is log: tag(log, interval(a, b))",
                )
            )
        if "log" in value.tags and value.start <= 0:
            raise ConfigError(
                Problem(key, "a log interval must start above 0", f"e.g. tag(log, interval(1e-5, {value.end}))")
            )
        cut = _cut_ends(override.input_line)
        if cut:  # Hydra casts each end down: int(interval(1.5, 4.5)) would search 1 to 4
            raise ConfigError(
                Problem(
                    key,
                    f"{cut} would search {value.start} to {value.end}: int() cuts each end down",
                    "give whole ends: int(interval(2, 4))",
                )
            )
        return Dim(key, low=value.start, high=value.end, log="log" in value.tags, integer=integer)
    if getattr(value, "shuffle", False):  # a new order at every reading: no trial n is combination n
        raise ConfigError(
            Problem(
                key,
                f"shuffle(...) in {override.input_line!r}: a sweep runs its grid in Hydra's order, so that"
                " trial n is combination n when it resumes",
                "drop shuffle; to try values in a random order, search them: --search random --trials N",
            )
        )
    if getattr(value, "tags", None):
        raise ConfigError(
            Problem(key, f"tag(...) in {override.input_line!r}: tags apply to interval(a, b) only", "drop the tag")
        )
    try:
        values = [v.text if isinstance(v, QuotedString) else v for v in override.sweep_iterator()]
    except (HydraException, ValueError) as exc:
        raise ConfigError(Problem(key, f"cannot list the values of {override.input_line!r}: {exc}")) from exc
    if not values:
        raise ConfigError(Problem(key, f"{override.input_line!r} gives no values"))
    if not all(v is None or isinstance(v, (bool, int, float, str)) for v in values):
        return Dim(key, values=[Override._get_value_element_as_str(v) for v in values], verbatim=True)
    ints = all(isinstance(v, int) and not isinstance(v, bool) for v in values)
    step = value.step if isinstance(value, RangeSweep) and ints and len(values) > 1 else None
    return Dim(key, values=values, step=step)


class _GroupOptions:
    """The one thing Hydra's `glob(...)` asks of a config loader: a group's option names."""

    def __init__(self, config_dirs: list[Path]):
        self.dirs = [*config_dirs, paths.conf_dir()]

    def get_group_options(self, group: str, results_filter: ObjectType | None = ObjectType.CONFIG) -> list[str]:
        names = {p.stem for d in self.dirs for p in (Path(d) / group.lstrip("+/")).glob("*.yaml")}
        return sorted(n for n in names if not n.startswith("_"))
