"""Where the shipped config groups and recipes are, from a checkout or a wheel."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _shipped(name: str) -> Path:
    # A wheel carries them inside the package (see pyproject's force-include);
    # a source checkout or editable install has them at the repository's top.
    inside = _PACKAGE / "_shipped" / name
    return inside if inside.is_dir() else _PACKAGE.parent / name


def conf_dir() -> Path:
    return _shipped("conf")


def recipes_dir() -> Path:
    return _shipped("recipes")
