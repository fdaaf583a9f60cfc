"""Where user config directories come from, and which of the two places a missing one was named in."""

import pytest

from dlcli.config.compose import config_dirs
from dlcli.errors import ConfigError


@pytest.mark.parametrize(
    "env, extra, key",
    [("/nonexistent", [], "$DLCLI_CONFIG_PATH"), ("", ["/nonexistent"], "--config-dir")],
)
def test_a_directory_that_is_not_there_is_blamed_where_it_was_named(monkeypatch, env, extra, key):
    monkeypatch.setenv("DLCLI_CONFIG_PATH", env)
    with pytest.raises(ConfigError) as info:
        config_dirs(extra)
    (problem,) = info.value.problems
    assert problem.key == key and problem.message == "'/nonexistent' is not a directory (resolved to /nonexistent)"


def test_the_environment_comes_first_and_the_command_line_wins(monkeypatch, tmp_path):
    (tmp_path / "team").mkdir(), (tmp_path / "mine").mkdir()
    monkeypatch.setenv("DLCLI_CONFIG_PATH", str(tmp_path / "team"))
    assert config_dirs([str(tmp_path / "mine")]) == [tmp_path / "team", tmp_path / "mine"]
