from pathlib import Path

import pytest


@pytest.fixture
def recipe(tmp_path):
    """Write a recipe file into the test's directory; returns its path for recipe=."""

    def write(text: str, name: str = "recipe") -> Path:
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        return path

    return write
