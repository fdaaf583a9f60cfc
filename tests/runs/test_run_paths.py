"""Where a new run may go: inside run.dir, through no link that leads out, in folders it can make.

Every refusal is exit 2 naming the key before anything is made: these fail at `prepare`,
before Keras is imported, so each costs a fraction of a second.
"""

import pytest

from dlcli.errors import ConfigError


def _tree(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_a_link_inside_run_dir_cannot_carry_a_run_out(cli, in_tmp):
    outside = in_tmp / "outside"
    outside.mkdir()
    (in_tmp / "outputs").mkdir()
    (in_tmp / "outputs" / "evil").symlink_to(outside)
    code, _, err = cli("-q", "train", "recipe=digits_mlp", "train.epochs=1", "data.limit=200", "run.name=evil/x")
    assert code == 2 and "error: run.name: 'evil/x' resolves to" in err and "outputs/evil ->" in err, err
    code, _, err = cli("ensemble", "a", "b", "--name", "evil/e")  # the name is checked before the members
    assert code == 2 and "error: --name: 'evil/e' resolves to" in err, err
    assert _tree(in_tmp) == ["outputs", "outputs/evil", "outside"]


def test_run_dir_may_be_a_link_and_a_link_that_stays_inside_is_followed(tmp_path):
    from dlcli.safepath import check_run_place

    big = tmp_path / "big"
    (big / "real").mkdir(parents=True)
    (tmp_path / "outputs").symlink_to(big)  # the user's own choice: runs on another disk
    (big / "alias").symlink_to(big / "real")
    check_run_place(tmp_path / "outputs", "mnist/baseline")
    check_run_place(tmp_path / "outputs", "alias/x")
    with pytest.raises(ConfigError, match="alias/../../x"):
        check_run_place(tmp_path / "outputs", "alias/../../x")  # '..' after the link: out of run.dir on disk


@pytest.mark.parametrize(
    "args, key, message",
    [
        (["run.dir=afile"], "run.dir", "afile is a file, not a folder"),
        (["run.dir=afile/runs"], "run.dir", "afile is a file, not a folder"),
        (["run.dir=.", "run.name=afile/x"], "run.name", "afile is a file, not a folder of runs"),
        (["run.name=" + "a" * 300], "run.name", "is 300 bytes long: a folder name holds at most 255"),
    ],
    ids=["dir-is-file", "dir-under-file", "name-under-file", "name-too-long"],
)
def test_a_run_location_the_disk_cannot_hold_is_exit_2(cli, in_tmp, args, key, message):
    (in_tmp / "afile").write_text("keep\n")
    code, _, err = cli("-q", "train", "recipe=digits_mlp", "train.epochs=1", "data.limit=200", *args)
    assert code == 2 and f"error: {key}: " in err and message in err, err
    assert _tree(in_tmp) == ["afile"]


@pytest.mark.parametrize("name", ["a\nb", "a\rb", "a\x1b[2Jb", "a\u2028b", "a\x00b"])
def test_a_control_character_in_a_run_name_is_refused(cli, in_tmp, name):
    from dlcli.safepath import check_run_location

    with pytest.raises(ConfigError) as caught:
        check_run_location("outputs", name)
    assert [p.key for p in caught.value.problems] == ["run.name"]
    assert "control character" in caught.value.problems[0].message
    code, out, err = cli("ensemble", "a", "b", "--name", name.replace("\x00", "\x01"))  # argv holds no NUL
    assert code == 2 and "error: --name: " in err and "control character" in err, err
    assert _tree(in_tmp) == []


@pytest.mark.parametrize(
    "path, own",
    [
        ("plots/x.csv", True),
        ("plots/loss.png", True),
        ("tensorboard/../plots/loss.png", True),
        ("predictions/test.csv", True),
        ("export/model.keras", True),
        ("plots", True),
        ("checkpoints", True),
        ("checkpoints/best.keras", True),
        ("checkpoints/last.keras", True),
        ("fold-2/logs/x.csv", True),
        ("eval-3.json", True),
        ("checkpoints/w.01.keras", False),
        ("logs/plots/x.csv", False),
        ("tensorboard/train", False),
    ],
)
def test_dlcli_s_own_folders_are_its_own(path, own):
    from dlcli.runs.rundir import is_own

    assert is_own(path) is own


def test_a_callback_cannot_write_into_plots(tmp_path):
    """The CSV log would be overwritten by dlcli's loss.png at the end of the run."""
    from dlcli import callbacks as cb

    with pytest.raises(ConfigError) as caught:
        cb.from_config({"out": {"class": "CSVLogger", "filename": "plots/loss.png"}}, None)
    (problem,) = caught.value.problems
    assert problem.key == "callbacks.out.filename" and "is dlcli's own" in problem.message


def test_a_loop_of_links_in_run_name_is_exit_2_not_a_traceback(tmp_path):
    from dlcli.safepath import check_run_place

    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    with pytest.raises(ConfigError, match="loop/x cannot be followed"):
        check_run_place(tmp_path, "loop/x")


@pytest.mark.parametrize("name", [".hidden", "exp/.hidden/x", "..."])
def test_a_hidden_run_name_is_refused_as_runs_list_would_never_show_it(cli, in_tmp, name):
    """rundir.runs skips every folder starting with '.' (staging folders are .new-*): such a run trained unseen."""
    code, _, err = cli("-q", "train", "recipe=digits_mlp", "train.epochs=1", "data.limit=200", f"run.name={name}")
    said = " ".join(err.split())
    assert (
        code == 2 and f"error: run.name: {name!r}: the folder " in said and "hint: a name without a leading '.'" in said
    )
    code, _, err = cli("ensemble", "a", "b", "--name", name)  # the name is checked before the members
    assert code == 2 and f"error: --name: {name!r}" in " ".join(err.split()), err
    assert _tree(in_tmp) == []
    from dlcli.safepath import check_run_location

    check_run_location(".runs", "exp/./x")  # run.dir may be hidden; './' is no folder of the name
