import json
import os
import subprocess
import sys
import threading

import pytest

from dlcli.errors import ConfigError
from dlcli.runs import rundir


def _create(root, name, when=None):
    """A new, empty run directory, made as a run's is: staged, then named."""
    return rundir.publish(rundir.stage_run(root, name), when=when)


def test_two_runs_in_the_same_second_get_different_directories(tmp_path):
    when = 1_700_000_000.0
    made = []
    threads = [threading.Thread(target=lambda: made.append(_create(tmp_path, "r", when))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(made)) == 8
    names = sorted(p.name for p in made)
    assert names[0].count("-") == 4 and all(n.startswith(names[0]) for n in names)


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "metrics.json"
    rundir.write_json(target, {"a": 1})
    with pytest.raises(RuntimeError):
        with rundir.atomic_write(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert json.loads(target.read_text()) == {"a": 1}
    assert os.listdir(tmp_path) == ["metrics.json"]


def test_a_failed_atomic_write_removes_the_folders_it_made_and_only_those(tmp_path):
    (tmp_path / "kept").mkdir()
    with pytest.raises(RuntimeError):
        with rundir.atomic_write(tmp_path / "kept" / "new" / "deeper" / "out.csv") as tmp:
            tmp.write_text("half")
            raise RuntimeError("a bad row in a late chunk")
    assert os.listdir(tmp_path) == ["kept"] and os.listdir(tmp_path / "kept") == []
    rundir.write_text(tmp_path / "kept" / "new" / "out.csv", "x")  # one that succeeds keeps them
    assert (tmp_path / "kept" / "new" / "out.csv").read_text() == "x"


def test_atomic_files_get_the_permissions_of_any_file_the_user_writes(tmp_path):
    rundir.write_text(tmp_path / "a.txt", "x")
    (tmp_path / "b.txt").write_text("x")
    assert (tmp_path / "a.txt").stat().st_mode == (tmp_path / "b.txt").stat().st_mode  # not mkstemp's 0600


def test_find_by_dir_id_and_latest(tmp_path):
    older = _create(tmp_path, "a", 1_700_000_000.0)
    newer = _create(tmp_path, "b", 1_700_000_100.0)
    for d in (older, newer):
        (d / "config.yaml").write_text("{}")
    assert rundir.find(str(older), tmp_path) == older
    assert rundir.find(f"a/{older.name}", tmp_path) == older
    assert rundir.find("latest", tmp_path) == newer
    assert rundir.find("a/latest", tmp_path) == older
    with pytest.raises(ConfigError, match="no runs of c"):
        rundir.find("c/latest", tmp_path)


def test_latest_skips_smoke_runs_and_for_a_trained_model_unfinished_ones(tmp_path):
    done = _create(tmp_path, "a", 1_700_000_000.0)
    running = _create(tmp_path, "a", 1_700_000_100.0)
    smoke = _create(tmp_path / "smoke", "a", 1_700_000_200.0)
    for d in (done, running, smoke):
        (d / "config.yaml").write_text("{}")
    (done / "metrics.json").write_text("{}")
    assert rundir.find("latest", tmp_path) == running  # --resume continues the run that was cut short
    assert rundir.find("latest", tmp_path, finished=True) == done  # evaluate/predict/export need a model
    assert rundir.find("smoke/latest", tmp_path) == smoke
    fold = running / "fold-2"
    fold.mkdir()
    (fold / "config.yaml").write_text("{}")
    assert rundir.find("a/latest/fold-2", tmp_path) == rundir.find("latest/fold-2", tmp_path) == fold
    with pytest.raises(ConfigError, match="no finished runs of b"):
        rundir.find("b/latest", tmp_path, finished=True)


def test_latest_counts_same_second_suffixes_as_numbers(tmp_path):
    made = [_create(tmp_path, "a", 1_700_000_000.0) for _ in range(12)]
    for d in made:
        (d / "config.yaml").write_text("{}")
    assert made[-1].name.endswith("-11") and rundir.find("latest", tmp_path) == made[-1]


def test_a_start_removes_only_staging_folders_whose_process_is_gone(tmp_path):
    """dlcli's own staging folders of a dead process on this machine go; a live process's, another
    machine's, another name, a link or a file are kept."""
    mine = rundir.stage(tmp_path)
    host = mine.name.split("@")[1].rsplit("-", 1)[0]
    gone = subprocess.Popen([sys.executable, "-c", ""])
    gone.wait()
    dead = tmp_path / f".new-{gone.pid}@{host}-abcd1234"
    (dead / "checkpoints").mkdir(parents=True)
    kept = [
        mine,
        tmp_path / f".new-{os.getppid()}@{host}-abcd1234",  # a process that runs
        tmp_path / f".new-{gone.pid}@another.host-abcd1234",  # its pid means nothing here
        tmp_path / f".new-{gone.pid}@{host.rsplit('.ns', 1)[0]}.ns1-abcd1234",  # nor in another container's
        tmp_path / ".new-abcd1234",  # made by an older dlcli: its process is unknown
        tmp_path / f".new-{gone.pid}@{host}-abcd1234.mine",
        tmp_path / "2026-01-01_00-00-00",
    ]
    for folder in kept[1:]:
        folder.mkdir()
    link = tmp_path / f".new-{gone.pid}@{host}-link1234"
    link.symlink_to(kept[-1])
    file = tmp_path / f".new-{gone.pid}@{host}-file1234"
    file.write_text("keep")
    rundir.stage(tmp_path).rmdir()
    assert not dead.exists()
    assert all(p.is_dir() for p in kept) and link.is_symlink() and file.read_text() == "keep"
