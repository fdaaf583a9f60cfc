"""Bad input, file by file (issue 11): every file dlcli reads or writes, given something it is not.

One table. Each row makes a bad file (training data, a --input file, a damaged run, an --output
that cannot be written) and runs the real CLI. Every row must exit with its code (2: the user
can fix it), print one screen naming the file or the option, print no traceback, and leave no
new run directory behind.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.data.helpers import FIVE

pytestmark = pytest.mark.slow


def _table(rows: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    table = pd.DataFrame({c: rng.normal(size=rows) for c in "abcde"})
    table["label"] = np.arange(rows) % 2
    return table


def _recipe(where: Path) -> None:
    _table().to_csv(where / "five.csv", index=False)
    (where / "five.yaml").write_text(FIVE)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One finished run of the five-column recipe, shared by the rows that need a run."""
    from typer.testing import CliRunner

    from dlcli.cli import app

    where = tmp_path_factory.mktemp("trained")
    _recipe(where)
    old = os.getcwd()
    os.chdir(where)
    try:
        result = CliRunner().invoke(app, ["-q", "train", "recipe=./five.yaml"], catch_exceptions=False)
    finally:
        os.chdir(old)
    assert result.exit_code == 0, result.output
    return where / result.stdout.strip().splitlines()[-1].removeprefix("run: ")


# --- makers: each writes its bad file in the current directory and returns the command line ----


def csv_text(text: str | bytes, name: str = "bad.csv"):
    def make(run, tmp):
        (tmp / name).write_bytes(text if isinstance(text, bytes) else text.encode())
        return ["train", "recipe=./five.yaml", f"data.path={name}"]

    return make


def edited(change, name: str = "bad.csv"):
    """The good training table, changed by `change(DataFrame)`, as a training file."""

    def make(run, tmp):
        table = _table().astype(object)
        change(table)
        table.to_csv(tmp / name, index=False)
        return ["train", "recipe=./five.yaml", f"data.path={name}"]

    return make


def npz(name: str = "bad.npz", raw: bytes | None = None, **arrays):
    def make(run, tmp):
        if raw is not None:
            (tmp / name).write_bytes(raw)
        else:
            np.savez(tmp / name, **arrays, allow_pickle=True)
        return ["train", "recipe=./five.yaml", "data.source=npz", "data.target=y", f"data.path={name}"]

    return make


def lone_npy(run, tmp):
    with open(tmp / "bad.npz", "wb") as f:
        np.save(f, np.zeros((60, 5)))
    return ["train", "recipe=./five.yaml", "data.source=npz", "data.target=y", "data.path=bad.npz"]


def split_file(key: str, change=None, text: str | None = None, name: str = "split.csv"):
    def make(run, tmp):
        if text is not None:
            (tmp / name).write_text(text)
        else:
            table = change(_table()) if change else _table()
            table.to_csv(tmp / name, index=False)
        return ["train", "recipe=./five.yaml", "data.path=null", "data.train_path=five.csv", f"data.{key}={name}"]

    return make


def given(command: str, maker):
    """`command RUN --input FILE` where `maker(tmp)` writes FILE and returns its name."""

    def make(run, tmp):
        return [command, str(run), "--input", maker(tmp), *(["--rows", "0"] if command == "predict" else [])]

    return make


def samples(change=None, text: bytes | None = None, name: str = "new.csv"):
    def write(tmp):
        if text is not None:
            (tmp / name).write_bytes(text)
        else:
            table = _table().drop(columns=["label"]).astype(object)
            change(table) if change else None
            table.to_csv(tmp / name, index=False)
        return name

    return write


def sample_npz(name: str = "new.npz", raw: bytes | None = None, **arrays):
    def write(tmp):
        if raw is not None:
            (tmp / name).write_bytes(raw)
        else:
            np.savez(tmp / name, **arrays)
        return name

    return write


def damaged(command: str, damage):
    """`command COPY` where COPY is the trained run with one of its files damaged by `damage(run_dir)`."""

    def make(run, tmp):
        copy = tmp / "run"
        shutil.copytree(run, copy)
        damage(copy)
        tail = {
            "predict": ["--rows", "0"],
            "train": ["train.epochs=2"],
        }.get(command, [])
        return (["train", "--resume", str(copy)] if command == "train" else [command, str(copy)]) + tail

    return make


def write(path: Path, data: str | bytes) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
    (path.write_bytes if isinstance(data, bytes) else path.write_text)(data)


def as_directory(path: Path) -> None:
    path.unlink()
    path.mkdir()


def command(*args):
    def make(run, tmp):
        return [a.replace("RUN", str(run)) for a in args]

    return make


def folder_output(command_name: str, suffix: str):
    def make(run, tmp):
        (tmp / f"out{suffix}").mkdir()
        return [command_name, str(run), "-o", f"out{suffix}", "--force"]

    return make


def under_a_file(run, tmp):
    (tmp / "afile").write_text("x")
    return ["predict", str(run), "-o", "afile/p.csv"]


def full_disk(run, tmp):
    return ["predict", str(run), "--rows", "0", "-o", "full.csv"]


def _no_space(monkeypatch):
    """pandas' to_csv on a full disk, as the OS reports it: the temporary file's name, ENOSPC."""

    def to_csv(self, path, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(pd.DataFrame, "to_csv", to_csv)


def _set(column: str, row: int, value):
    def change(t):
        t.loc[row, column] = value

    return change


GOOD = _table().to_csv(index=False)
HEADER = GOOD.splitlines()[0]

# id, maker, exit code, fragments the screen must hold (spaces normalised)[, patch]
CASES = [
    # --- training data: CSV --------------------------------------------------------------------
    ("csv-inf", edited(_set("a", 3, "inf")), 2, ["data.features:", "bad.csv", "infinite", "'a'"]),
    ("csv-1e400", edited(_set("b", 3, "1e400")), 2, ["data.features:", "bad.csv", "infinite", "'b'"]),
    ("csv-1e39-overflows-float32", edited(_set("b", 3, "1e39")), 2, ["bad.csv", "too large", "'b'"]),
    ("csv-nan", edited(_set("c", 3, "nan")), 2, ["data.features:", "bad.csv", "NaN", "'c'"]),
    ("csv-inf-target", edited(_set("label", 3, "inf")), 2, ["data.target:", "bad.csv"]),
    ("csv-one-class", edited(lambda t: t.__setitem__("label", 1)), 2, ["data.target:", "bad.csv", "one class"]),
    (
        "csv-one-class-word",
        edited(lambda t: t.__setitem__("label", "dog")),
        2,
        ["data.target:", "bad.csv", "one class", "dog"],
    ),
    ("csv-semicolons", csv_text(GOOD.replace(",", ";")), 2, ["bad.csv", "data.delimiter=';'"]),
    ("csv-no-header", csv_text("\n".join(GOOD.splitlines()[1:]) + "\n"), 2, ["data.target:", "bad.csv"]),
    ("csv-only-header", csv_text(HEADER + "\n"), 2, ["data.path:", "bad.csv", "no rows"]),
    ("csv-row-too-long", csv_text(GOOD + "1,2,3,4,5,0,7,8\n"), 2, ["data.path:", "bad.csv", "line 62"]),
    ("csv-row-too-short", csv_text(GOOD + "1,2\n"), 2, ["data.features:", "bad.csv", "NaN"]),
    ("csv-not-numeric", edited(_set("a", 5, "abc")), 2, ["data.features:", "bad.csv", "'a'", "not numeric"]),
    (
        "csv-not-utf8",
        csv_text(HEADER.replace("a", "\xe9").encode("latin-1") + b"\n1,2,3,4,5,0\n"),
        2,
        ["bad.csv", "UTF-8"],
    ),
    ("csv-binary", csv_text(bytes(range(256)) * 4), 2, ["data.path:", "bad.csv"]),
    ("csv-empty", csv_text(b""), 2, ["data.path:", "bad.csv", "empty"]),
    (
        "csv-directory",
        lambda run, tmp: ((tmp / "d.csv").mkdir(), command("train", "recipe=./five.yaml", "data.path=d.csv")(run, tmp))[
            1
        ],
        2,
        ["data.path:", "d.csv", "directory"],
    ),
    (
        "csv-symlink-loop",
        lambda run, tmp: (
            os.symlink("loop.csv", tmp / "loop.csv"),
            command("train", "recipe=./five.yaml", "data.path=loop.csv")(run, tmp),
        )[1],
        2,
        ["data.path:", "loop.csv", "symbolic link"],
    ),
    ("csv-missing", command("train", "recipe=./five.yaml", "data.path=nowhere.csv"), 2, ["data.path:", "nowhere.csv"]),
    # --- training data: npz --------------------------------------------------------------------
    ("npz-zero-bytes", npz(raw=b""), 2, ["data.path:", "bad.npz", "empty"]),
    ("npz-not-zip", npz(raw=b"hello, not a zip"), 2, ["data.path:", "bad.npz", "not an .npz"]),
    ("npz-lone-npy", lone_npy, 2, ["data.path:", "bad.npz", ".npy"]),
    ("npz-missing-array", npz(x=np.zeros((60, 5))), 2, ["data.target:", "bad.npz", "no array 'y'"]),
    (
        "npz-object-array",
        npz(x=np.array([np.zeros(3), np.zeros(4)], dtype=object), y=np.arange(2)),
        2,
        ["data.features:", "bad.npz", "Python objects"],
    ),
    ("npz-wrong-shape", npz(x=np.zeros((60, 7)), y=np.arange(60) % 2), 2, ["model.inputs.input.shape", "5", "7"]),
    ("npz-strings", npz(x=np.full((60, 5), "a"), y=np.arange(60) % 2), 2, ["data.features:", "bad.npz", "strings"]),
    ("npz-complex", npz(x=np.zeros((60, 5)) + 1j, y=np.arange(60) % 2), 2, ["data.features:", "bad.npz", "complex"]),
    ("npz-inf", npz(x=np.full((60, 5), np.inf), y=np.arange(60) % 2), 2, ["data.features:", "bad.npz", "infinite"]),
    ("npz-one-class", npz(x=np.zeros((60, 5)), y=np.ones(60)), 2, ["data.target:", "bad.npz", "one class"]),
    (
        "npz-lengths-differ",
        npz(x=np.zeros((60, 5)), y=np.arange(59) % 2),
        2,
        ["data.path:", "bad.npz", "different numbers of samples"],
    ),
    # --- given split files -----------------------------------------------------------------------
    (
        "val-path-other-column-names",  # read by position it would train on A..E as a..e: refused
        split_file("val_path", lambda t: t.rename(columns=str.upper)),
        2,
        ["data.val_path:", "split.csv", "none of the columns training read"],
    ),
    (
        "val-path-missing-column",
        split_file("val_path", lambda t: t.drop(columns=["e"])),
        2,
        ["data.val_path:", "split.csv", "'e'"],
    ),
    (
        "test-path-renamed-column",
        split_file("test_path", lambda t: t.rename(columns={"a": "A"})),
        2,
        ["data.test_path:", "split.csv", "'a'"],
    ),
    ("test-path-empty", split_file("test_path", text=""), 2, ["data.test_path:", "split.csv", "empty"]),
    (
        "test-path-only-header",
        split_file("test_path", text=HEADER + "\n"),
        2,
        ["data.test_path:", "split.csv", "no rows"],
    ),
    (
        "test-path-npz-for-csv",
        split_file("test_path", text="", name="split.npz"),
        2,
        ["data.test_path:", "split.npz", "data=npz"],
    ),
    # --- predict / evaluate --input ---------------------------------------------------------------
    ("predict-inf", given("predict", samples(_set("a", 0, "inf"))), 2, ["--input:", "new.csv", "infinite", "'a'"]),
    ("predict-1e400", given("predict", samples(_set("e", 2, "1e400"))), 2, ["--input:", "new.csv", "infinite", "'e'"]),
    ("predict-not-numeric", given("predict", samples(_set("b", 2, "x"))), 2, ["--input:", "new.csv", "'b'", "row 3"]),
    (
        "predict-short-row",
        given("predict", samples(text=(HEADER.rsplit(",", 1)[0] + "\n1,2\n").encode())),
        2,
        ["--input:", "new.csv", "NaN"],
    ),
    (
        "predict-not-utf8",
        given("predict", samples(text=b"a,b,c,d,e\n\xff\xfe,1,2,3,4\n")),
        2,
        ["--input:", "new.csv", "UTF-8"],
    ),
    ("predict-empty", given("predict", samples(text=b"")), 2, ["--input:", "new.csv", "empty"]),
    (
        "predict-semicolons",
        given("predict", samples(text=b"a;b;c;d;e\n1;2;3;4;5\n")),
        2,
        ["--input:", "new.csv", "data.delimiter=';'"],
    ),
    (
        "predict-directory",
        given("predict", lambda tmp: (tmp / "d.csv").mkdir() or "d.csv"),
        2,
        ["--input:", "d.csv", "directory"],
    ),
    ("predict-missing", given("predict", lambda tmp: "gone.csv"), 2, ["--input:", "gone.csv"]),
    (
        "predict-a-column-named-twice",
        given("predict", samples(text=b"a,a,c,d,e\n1,2,3,4,5\n")),
        2,
        ["--input:", "new.csv", "two columns 'a'"],
    ),
    ("predict-npz-scalar", given("predict", sample_npz(x=np.float32(3))), 2, ["--input:", "new.npz", "single value"]),
    ("export-output-empty", command("export", "RUN", "--format", "keras", "-o", ""), 2, ["--output:", "directory"]),
    ("predict-npz-zero-bytes", given("predict", sample_npz(raw=b"")), 2, ["--input:", "new.npz", "empty"]),
    ("predict-npz-not-zip", given("predict", sample_npz(raw=b"PK? no")), 2, ["--input:", "new.npz", "not an .npz"]),
    (
        "predict-npz-strings",
        given("predict", sample_npz(x=np.full((3, 5), "a"))),
        2,
        ["--input:", "new.npz", "strings"],
    ),
    (
        "predict-npz-inf",
        given("predict", sample_npz(x=np.full((3, 5), np.inf))),
        2,
        ["--input:", "new.npz", "infinite"],
    ),
    ("predict-npz-wrong-shape", given("predict", sample_npz(x=np.zeros((3, 7)))), 2, ["--input:", "new.npz", "7"]),
    ("evaluate-inf", given("evaluate", samples(_set("a", 0, "-inf"))), 2, ["--input:", "new.csv", "infinite"]),
    ("evaluate-no-targets", given("evaluate", samples()), 2, ["--input:", "new.csv", "no targets"]),
    # --- run files ---------------------------------------------------------------------------------
    (
        "config-list",
        damaged("predict", lambda r: write(r / "config.yaml", "- a\n- b\n")),
        2,
        ["RUN:", "config.yaml", "list"],
    ),
    (
        "config-other-project",
        damaged("evaluate", lambda r: write(r / "config.yaml", "name: other\nsteps: [1, 2]\n")),
        2,
        ["RUN:", "config.yaml", "not a dlcli run's config"],
    ),
    ("config-empty", damaged("export", lambda r: write(r / "config.yaml", "")), 2, ["RUN:", "config.yaml", "empty"]),
    (
        "config-bad-yaml",
        damaged("train", lambda r: write(r / "config.yaml", "a: [\n")),
        2,
        ["RUN:", "config.yaml", "YAML", "line 2"],
    ),
    (
        "config-binary",
        damaged("predict", lambda r: write(r / "config.yaml", bytes(range(256)))),
        2,
        ["RUN:", "config.yaml", "UTF-8"],
    ),
    (
        "config-wrong-type",
        damaged(
            "train",
            lambda r: write(r / "config.yaml", (r / "config.yaml").read_text().replace("epochs: 1", "epochs: many")),
        ),
        2,
        ["RUN:", "config.yaml", "train.epochs"],
    ),
    (
        "preprocess-not-json",
        damaged("predict", lambda r: write(r / "preprocess.json", "{not json")),
        2,
        ["RUN:", "preprocess.json", "line 1"],
    ),
    (
        "preprocess-list",
        damaged("evaluate", lambda r: write(r / "preprocess.json", "[1, 2]")),
        2,
        ["RUN:", "preprocess.json"],
    ),
    (
        "preprocess-bad-state",
        damaged("export", lambda r: write(r / "preprocess.json", '{"state": {"x": 5}}')),
        2,
        ["RUN:", "preprocess.json"],
    ),
    (
        "preprocess-missing",
        damaged("predict", lambda r: (r / "preprocess.json").unlink()),
        2,
        ["RUN:", "preprocess.json", "missing"],
    ),
    (
        "preprocess-directory",
        damaged("evaluate", lambda r: as_directory(r / "preprocess.json")),
        2,
        ["RUN:", "preprocess.json", "not a file"],
    ),
    (
        "overrides-damaged-on-resume",
        damaged("train", lambda r: write(r / "overrides.yaml", "garbage: [\n")),
        2,
        ["RUN:", "overrides.yaml", "YAML"],
    ),
    (
        "overrides-a-list-on-resume",
        damaged("train", lambda r: write(r / "overrides.yaml", "- a\n")),
        2,
        ["RUN:", "overrides.yaml", "list"],
    ),
    (
        "overrides-missing-on-resume",
        damaged("train", lambda r: (r / "overrides.yaml").unlink()),
        2,
        ["RUN:", "overrides.yaml", "missing"],
    ),
    ("model-empty", damaged("predict", lambda r: write(r / "model.keras", b"")), 2, ["RUN:", "model.keras", "damaged"]),
    # --- what is written ------------------------------------------------------------------------------
    ("predict-rows-negative", command("predict", "RUN", "--rows", "-5"), 2, ["--rows:", "-5"]),
    ("predict-output-directory", folder_output("predict", ".csv"), 2, ["--output:", "out.csv", "directory"]),
    ("export-output-directory", folder_output("export", ".keras"), 2, ["--output:", "out.keras", "directory"]),
    ("predict-output-under-a-file", under_a_file, 2, ["--output:", "afile/p.csv", "not a folder"]),
    ("predict-output-full-disk", full_disk, 1, ["full.csv", "No space left", "free some space"], _no_space),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_file(case, trained, cli, in_tmp, monkeypatch):
    name, make, code, fragments, *patch = case
    _recipe(in_tmp)
    args = make(trained, in_tmp)
    before = sorted(p.name for p in trained.parent.iterdir())
    for p in patch:
        p(monkeypatch)
    got, out, err = cli(*args)
    text = " ".join((out + err).split())
    assert got == code, text
    assert "Traceback" not in text
    for fragment in fragments:
        assert fragment in text, (fragment, text)
    assert sum(line.startswith("error:") for line in (out + err).splitlines()) == 1, text  # one screen
    assert not (in_tmp / "outputs").exists(), "a run directory was left behind"
    assert sorted(p.name for p in trained.parent.iterdir()) == before
    assert not list(in_tmp.glob(".*.csv.*")) and not list(in_tmp.glob(".*.keras.*")), "a temporary file was left"
