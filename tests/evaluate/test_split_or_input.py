"""--split names one of the run's splits and --input a file: given both, one would go unused, so the
command is refused before it loads anything."""

import pytest


@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_split_and_input_together_are_refused(cli, digits, tmp_path, command):
    before = sorted(digits.rglob("*"))
    code, out, err = cli(command, digits, "--input", tmp_path / "new.csv", "--split", "val")
    assert code == 2 and out == "", out
    assert err.startswith("error: --split: --split val and --input ") and err.count("\n") == 2, err
    assert f"hint: drop --split to use {tmp_path / 'new.csv'}, or drop --input to use the val split" in err
    assert sorted(digits.rglob("*")) == before
