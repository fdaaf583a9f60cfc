"""`dlcli runs rm` and `runs compare` as a user meets them: a link is not a run, no is an answer,
an option's error names that option, CSV is CSV."""

import json

from typer.testing import CliRunner

from dlcli.cli import app


def _run(root, name, rate, loss):
    """A finished run as dlcli leaves one: its config, final metrics and history."""
    run = root / "r" / name
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(f"run: {{name: r}}\noptimizer: {{learning_rate: {rate}}}\n")
    (run / "metrics.json").write_text(json.dumps({"val": {"loss": loss}}))
    (run / "history.csv").write_text(f"epoch,loss,val_loss\n0,{loss + 1},{loss}\n1,{loss + 0.5},{loss}\n")
    return run


def _rm(*args, input=None):
    result = CliRunner().invoke(app, ["runs", "rm", *map(str, args)], input=input, catch_exceptions=False)
    return result.exit_code, " ".join(result.stderr.split())


def test_rm_through_a_link_deletes_nothing_and_says_what_to_remove(tmp_path):
    run = _run(tmp_path, "2026-01-01_00-00-00", 0.1, 1.0)
    link = tmp_path / "lnk" / "alias"
    link.parent.mkdir()
    link.symlink_to(run)
    code, said = _rm(link, "--yes", "--runs-dir", tmp_path)
    assert code == 2 and f"error: RUN: {link} is a link to {run}" in said
    assert f"rm {link}" in said and f"dlcli runs rm {run}" in said
    assert link.is_symlink() and (run / "config.yaml").is_file()


def test_answering_no_deletes_nothing_and_is_no_failure(tmp_path):
    run = _run(tmp_path, "2026-01-01_00-00-00", 0.1, 1.0)
    assert _rm("r/2026-01-01_00-00-00", "--runs-dir", tmp_path, input="n\n") == (0, "nothing deleted")
    code, said = _rm("r/2026-01-01_00-00-00", "--runs-dir", tmp_path, input="")  # no answer: a script forgot --yes
    assert code == 2 and "add --yes" in said and run.is_dir()
    assert _rm("r/2026-01-01_00-00-00", "--runs-dir", tmp_path, input="y\n")[0] == 0 and not run.exists()


def test_compare_names_plot_in_its_refusal_and_force_replaces_it(tmp_path, cli):
    a, b = _run(tmp_path, "2026-01-01_00-00-00", 0.1, 1.0), _run(tmp_path, "2026-01-01_00-00-01", 0.2, 2.0)
    plot = tmp_path / "existing.png"
    plot.write_text("mine\n")
    code, _, err = cli("runs", "compare", a, b, "--plot", plot)
    said = " ".join(err.split())
    assert code == 2 and f"error: --plot: {plot} exists" in said and "add --force" in said
    assert plot.read_text() == "mine\n"
    code, _, err = cli("runs", "compare", a, b, "--plot", plot, "--force")
    assert code == 0 and plot.read_bytes().startswith(b"\x89PNG"), err


def test_compare_csv_ends_lines_with_newline_only(tmp_path):
    a, b = _run(tmp_path, "2026-01-01_00-00-00", 0.1, 1.0), _run(tmp_path, "2026-01-01_00-00-01", 0.2, 2.0)
    result = CliRunner().invoke(app, ["runs", "compare", str(a), str(b), "--csv"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout_bytes.decode().split("\n")  # the bytes: Click's `stdout` turns \r\n into \n
    assert lines == [f"key,{a},{b}", "optimizer.learning_rate,0.1,0.2", "val.loss,1.0,2.0", ""]


def test_a_sweep_a_process_is_running_is_not_removed_even_between_trials(tmp_path):
    from dlcli.runs import sweeps

    sweep = tmp_path / "r" / "sweeps" / "2026-01-01_00-00-00"
    sweep.mkdir(parents=True)
    (sweep / sweeps.SPEC).write_text("recipe: r\n")  # no trial has started yet
    with sweeps.taking_part(sweep):
        code, said = _rm(sweep, "--yes", "--runs-dir", tmp_path)
        assert code == 2 and f"{sweep} is running" in said and sweep.is_dir()
    assert _rm(sweep, "--yes", "--runs-dir", tmp_path)[0] == 0 and not sweep.exists()
