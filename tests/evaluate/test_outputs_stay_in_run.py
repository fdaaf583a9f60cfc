"""evaluate, predict and export write a run's outputs only inside it, and never over its own files.

A copy of the package's digits run is used, so the links and refusals leave the shared run as it was.
"""

import shutil

import pytest


@pytest.fixture
def run(digits, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(digits, copy, ignore=shutil.ignore_patterns("predictions", "export", "plots", "eval*.json"))
    (tmp_path / "outside").mkdir()
    return copy


@pytest.mark.parametrize(
    "command, link",
    [
        (["predict"], "predictions"),
        (["export"], "export"),
        (["evaluate"], "plots"),
        (["evaluate"], "plots/eval"),
    ],
)
def test_a_link_in_the_run_that_leads_out_is_refused(cli, run, command, link):
    outside = run.parent / "outside"
    (run / link).parent.mkdir(parents=True, exist_ok=True)
    (run / link).symlink_to(outside)
    code, out, err = cli(*command, run)
    assert code == 2 and "error: RUN: " in err and f"through the link {run / link} -> {outside}" in err, err
    assert out == "" and list(outside.iterdir()) == []  # refused before anything was computed


def test_a_k_fold_run_is_refused_before_any_fold_is_judged(cli, digits, tmp_path):
    """A link out of the last fold's plots/ stops the evaluation before the first fold writes its eval.json."""
    parent = tmp_path / "kfold"
    shutil.copytree(digits, parent, ignore=shutil.ignore_patterns("model.keras", "checkpoints", "plots", "eval*.json"))
    for fold in ("fold-1", "fold-2"):
        shutil.copytree(digits, parent / fold, ignore=shutil.ignore_patterns("plots", "eval*.json", "predictions"))
    (tmp_path / "outside").mkdir()
    (parent / "fold-2" / "plots").symlink_to(tmp_path / "outside")
    code, out, err = cli("evaluate", parent, "--split", "val")
    assert code == 2 and f"through the link {parent / 'fold-2' / 'plots'}" in err, err
    assert out == "" and not list(parent.rglob("eval*.json")) and list((tmp_path / "outside").iterdir()) == []


def test_an_output_named_with_output_may_go_through_a_link(cli, run):
    """--output is the user's own choice of path."""
    outside = run.parent / "outside"
    (run / "predictions").symlink_to(outside)
    code, _, err = cli("predict", run, "--output", run / "predictions" / "mine.csv")
    assert code == 0, err
    assert (outside / "mine.csv").read_text().startswith("source_row,predictions_true,")


def test_an_output_that_is_a_link_is_written_where_it_points(cli, run):
    """As the shell's `>` writes: the link stays, the file it names gets the predictions."""
    mine = run.parent / "mine.csv"
    mine.write_text("old\n")
    link = run.parent / "link.csv"
    link.symlink_to(mine)
    code, _, err = cli("predict", run, "--output", link, "--rows", "0")
    assert code == 2 and f"{mine} exists" in err, err
    code, out, err = cli("predict", run, "--output", link, "--rows", "0", "--force")
    assert code == 0, err
    assert link.is_symlink() and mine.read_text().startswith("source_row,predictions_true,")
    assert f"wrote {mine}" in out
    own = run.parent / "own.csv"  # a link into a run's own files is refused like the file itself
    own.symlink_to(run / "history.csv")
    before = (run / "history.csv").read_bytes()
    code, _, err = cli("predict", run, "--output", own, "--force")
    assert code == 2 and f"is dlcli's own history.csv of the run {run}" in err, err
    assert own.is_symlink() and (run / "history.csv").read_bytes() == before


@pytest.mark.parametrize(
    "command, own",
    [
        (["predict"], "history.csv"),
        (["predict"], "predictions/test.csv"),
        (["predict"], "fold-1/preds.csv"),
        (["export"], "model.keras"),
        (["export"], "checkpoints/best.keras"),
    ],
)
def test_an_output_over_the_run_s_own_file_is_refused_even_with_force(cli, run, command, own):
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    code, _, err = cli(*command, run, "--output", run / own, "--force")
    assert code == 2 and "error: --output: " in err and f"is dlcli's own {own} of the run {run}" in err, err
    alias = run.parent / "alias"  # the same file, reached through a link to the run
    alias.symlink_to(run)
    code, _, err = cli(*command, run, "--output", alias / own, "--force")
    assert code == 2 and f"is dlcli's own {own} of the run {run}" in err, err
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before


def test_resume_refuses_a_run_whose_folder_links_out(cli, run):
    outside = run.parent / "outside"
    (run / "plots").symlink_to(outside)
    code, _, err = cli("-q", "train", "--resume", run, "train.epochs=2")
    assert code == 2 and f"through the link {run / 'plots'} -> {outside}" in err, err
    assert list(outside.iterdir()) == []
