"""Every shipped recipe runs end to end on synthetic data (`--smoke`)."""

import pytest

from dlcli.config import discover

pytestmark = pytest.mark.slow

# The same graph on smaller images: Xception's smallest input (71x71) instead of 250x250 makes its smoke
# run a minute shorter; tests/graph/test_recipes.py builds it at the recipe's size and counts parameters.
SMALLER = {"dual_camera_xception": [f"model.inputs.{side}_input.shape=[71,71,3]" for side in ("left", "right")]}


@pytest.mark.parametrize("recipe", sorted(discover()))
def test_recipe_passes_smoke(recipe, cli, in_tmp):
    code, out, err = cli("-q", "train", f"recipe={recipe}", "--smoke", *SMALLER.get(recipe, []))
    assert code == 0, err
    run_dir = in_tmp / out.strip().splitlines()[-1].removeprefix("run: ")
    assert run_dir.parent.parent.name == "smoke"
    assert (run_dir / "model.keras").is_file()


def test_smoke_command_reports_each_recipe(cli, in_tmp):
    (in_tmp / "team").mkdir()
    (in_tmp / "team" / "broken.yaml").write_text("description: no model\ntrain: {epochs: 1}\nmodel: {nodes: {}}\n")
    code, out, _ = cli("smoke", "digits_mlp", "mnist")
    assert code == 0
    assert "ok" in out and "digits_mlp" in out and "2 passed, 0 failed" in out
    code, out, err = cli("smoke", "digits_mlp", "mnist_dropot")
    assert code == 2 and "did you mean 'mnist_dropout'" in err and "passed" not in out
    code, out, _ = cli("smoke", "--config-dir", "team", "broken")
    assert code == 1
    assert "FAIL" in out and "0 passed, 1 failed" in out


def test_runs_dir_says_where_new_runs_go(cli, in_tmp):
    code, out, err = cli("-q", "train", "recipe=digits_mlp", "--smoke", "--runs-dir", "mine")
    assert code == 0, err
    run_dir = in_tmp / out.strip().splitlines()[-1].removeprefix("run: ")
    assert run_dir.parent == in_tmp / "mine" / "smoke" / "digits_mlp" and not (in_tmp / "outputs").exists()
    assert cli("evaluate", "smoke/latest", "--runs-dir", "mine")[0] == 0


def test_a_runs_dir_that_cannot_be_written_is_one_line_not_a_traceback(cli, in_tmp):
    (in_tmp / "afile").write_text("")
    code, _, err = cli("train", "recipe=digits_mlp", "--smoke", "--runs-dir", "afile/runs")
    assert code == 2 and "error: run.dir: afile is a file, not a folder" in err and "Traceback" not in err
