"""`outputs/<recipe>/<YYYY-MM-DD_HH-MM-SS>[-N]/`: never reused, never overwritten.

A run is filled in a hidden staging directory and renamed into place once its
first files are written (`stage`, `publish`), so a start killed half-way leaves
no half-made run. `os.mkdir` either creates a directory or fails, so two runs
starting in the same second cannot both get the same name: the loser takes the
next suffix.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, NoReturn

from dlcli import safepath
from dlcli.errors import ConfigError, Problem

MARKER = "config.yaml"  # every run directory has one
SWEEP_SPEC = "sweep.yaml"  # every sweep directory has one (runs.sweeps writes it)
# What dlcli itself writes in a run directory: a callback's path may not take these over
OWN_FILES = (
    "config.yaml",
    "overrides.yaml",
    "env.json",
    "summary.txt",
    "preprocess.json",
    "history.csv",
    "model.keras",
    "metrics.json",
    ".lock",
    "eval.json",  # eval-1.json, ...
    "threshold.json",  # evaluate --threshold, applied by predict
    "ensemble.json",  # an ensemble run's members and weights
)
OWN_DIRS = ("checkpoints", "plots", "predictions", "export", "state", "fold-N")
_FILLED = ("plots", "predictions", "export", "state", "fold-N")  # every file inside is dlcli's (a later command's too)
_KEPT = ("checkpoints/best.keras", "checkpoints/last.keras")  # checkpoints/ holds a callback's files besides these
_UMASK = os.umask(0o022)  # read once (os.umask can only be read by setting it) and put back
os.umask(_UMASK)


def is_own(relative: str | Path) -> bool:
    """Whether a path inside a run directory is one of the files or folders dlcli writes there:
    its files, anything in plots/, predictions/, export/, state/ and fold-N/ (evaluate, predict and
    export fill the first three later), and checkpoints/ with its best and last model."""
    parts = Path(os.path.normpath(str(relative))).parts
    if not parts:
        return False
    head = re.sub(r"^eval-\d+\.json$", "eval.json", re.sub(r"^fold-\d+$", "fold-N", parts[0]))
    return head in OWN_FILES + _FILLED or "/".join(parts) in ("checkpoints", *_KEPT)


def inside(run_dir: str | Path, relative: str) -> Path:
    """`run_dir/relative`, a folder dlcli fills in a run that exists (predictions/, plots/eval/, export/,
    or what --resume writes again): refused, naming the link, where a link carries it out of the run."""
    try:
        return safepath.inside(run_dir, relative)
    except ValueError as exc:
        raise ConfigError(
            Problem(
                "RUN",
                f"{exc}: dlcli writes a run's files only inside it",
                "remove the link; predict and export write elsewhere when you name the file with --output",
            )
        ) from None


def owner(path: str | Path) -> tuple[Path, Path] | None:
    """The run directory (and the path inside it) of which `path` is one of dlcli's own files
    (`is_own`), in that run or any run it lies in; None when it is no run's own."""
    path = Path(os.path.realpath(Path(path).parent)) / Path(path).name
    for folder in path.parents:
        if (folder / MARKER).is_file() and is_own(path.relative_to(folder)):
            return folder, path.relative_to(folder)
    return None


def is_journal(path: str | Path) -> bool:
    """Whether `path` is an Optuna journal file (a sweep's study, `--storage FILE`): its first line is a
    JSON object with an "op_code". A sweep --resume reads it back, so no other command may replace it."""
    try:
        with Path(path).open(encoding="utf-8") as f:
            entry = json.loads(f.readline(1 << 20))  # (a study's first entry is short; a big file is no journal)
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(entry, dict) and "op_code" in entry


def stage_run(root: str | Path, name: str) -> Path:
    """A staging directory for a new run `root/name/STAMP` (see `stage`)."""
    safepath.check_run_place(root, name)  # (prepare checked it; this guards every other caller)
    return stage(Path(root) / name)


def stage(parent: str | Path) -> Path:
    """A hidden directory in `parent` to fill before `publish` names it: a killed start leaves
    no half-made run where `latest` would find it (hidden directories are never runs).

    Its name says which process on which machine fills it (`.new-PID@HOST-XXXXXXXX`): one that a
    start killed with SIGKILL left behind is removed by the next start in `parent` (`_remove_stale`)."""
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)  # (a file in the way is an OSError: one line naming it, exit 1)
    _remove_stale(parent)
    staging = Path(tempfile.mkdtemp(dir=parent, prefix=f".new-{os.getpid()}@{_host()}-"))
    os.chmod(staging, 0o777 & ~_UMASK)  # mkdtemp makes 0700 directories
    return staging


_STAGING = re.compile(r"\.new-(\d+)@([A-Za-z0-9._-]+)-[a-z0-9_]{8}")  # mkdtemp's 8 random characters


def _host() -> str:
    """This machine's name, and on Linux its PID namespace: two containers of one host name sharing
    a volume see each other's processes as gone, so they must read as two machines."""
    import socket

    name = re.sub(r"[^A-Za-z0-9.-]", "_", socket.gethostname())[:48]
    try:
        return f"{name}.ns{os.stat('/proc/self/ns/pid').st_ino}"
    except OSError:  # no /proc (macOS)
        return name


def _remove_stale(parent: Path) -> None:
    """Remove the staging directories in `parent` whose process is gone: dlcli's own (named by
    `stage`), made on this machine (another machine's processes cannot be seen from here), by a
    process that no longer runs. Anything else is left alone, older dlcli's `.new-*` folders too."""
    for entry in os.scandir(parent):
        found = _STAGING.fullmatch(entry.name)
        if found and found[2] == _host() and entry.is_dir(follow_symlinks=False) and not _running(int(found[1])):
            shutil.rmtree(entry.path, ignore_errors=True)  # (another start may be removing it too)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's
        pass
    return True


def publish(staging: Path, name: str | None = None, when: float | None = None) -> Path:
    """Rename a filled staging directory to `name`, or to a new time stamp; never onto a run that exists."""
    if name is not None:
        target = staging.parent / name
        os.rename(staging, target)
        return target
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S", time.localtime(when or time.time()))
    for n in range(10_000):
        candidate = staging.parent / (stamp if n == 0 else f"{stamp}-{n}")
        try:
            candidate.mkdir()  # reserves the name: two runs starting in the same second cannot both get it
        except FileExistsError:
            continue
        os.rename(staging, candidate)  # onto the empty reserved directory, atomically
        return candidate
    raise RuntimeError(f"could not name a run directory under {staging.parent}")


@contextmanager
def atomic_write(path: str | Path, suffix: str | None = None):
    """Yield a temporary path beside `path`; rename it over `path` only if the block succeeds.

    An OSError (a full disk, a read-only or missing directory, `path` a directory) names
    `path`, the file the user knows, not the temporary name. The folders it makes for `path`
    are removed again when the block fails: a failed command leaves nothing behind."""
    path = Path(path)
    tmp = None
    made = absent(path.parent)
    done = False
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix or path.suffix)
        os.close(fd)
        yield Path(tmp)
        if os.path.isfile(tmp):  # mkstemp makes 0600 files; runs are shared like any file the user writes
            os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
        done = True
    except OSError as exc:
        if exc.filename is None or str(exc.filename) == tmp or Path(str(exc.filename)) in (path, *path.parents):
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
        raise
    finally:
        if tmp is not None and os.path.lexists(tmp):
            os.unlink(tmp)
        if not done:
            remove_empty(made)


def absent(folder: str | Path) -> list[Path]:
    """`folder` and the folders above it that do not exist yet, innermost first: those a failed
    start removes again (`remove_empty`), so that it leaves nothing behind."""
    folder = Path(folder)
    return [p for p in (folder, *folder.parents) if not p.exists()]


def remove_empty(folders: list[Path]) -> None:
    for folder in folders:
        with suppress(OSError):  # not empty: something else wrote there meanwhile
            folder.rmdir()


@contextmanager
def lock(run_dir: Path):
    """Hold the run for this process; another dlcli writing it (a second --resume) is refused."""
    import fcntl

    with open(Path(run_dir) / ".lock", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(
                Problem(
                    "RUN",
                    f"{run_dir} is in use: another dlcli process is writing it",
                    "wait for that one to finish (or stop it), then resume",
                )
            ) from None
        yield


def held(lock: Path, shared_too: bool = False) -> bool:
    """Whether a process holds the lock file `lock` exclusively (a run's writer: `lock`), or, with
    `shared_too`, at all (the processes running a sweep's trials hold it shared)."""
    import fcntl

    if not lock.is_file():
        return False
    with open(lock, "a") as handle:
        try:
            fcntl.flock(handle, (fcntl.LOCK_EX if shared_too else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def unused(path: str | Path) -> Path:
    """`path`, or `stem-1`, `stem-2`, ... beside it: earlier results (evaluations, predictions) are never replaced."""
    path = candidate = Path(path)
    n = 0
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate


def write_text(path: str | Path, text: str) -> None:
    with atomic_write(path) as tmp:
        tmp.write_text(text)


def config_yaml(cfg) -> str:
    """A run's config.yaml: resolved, with its data files as absolute paths, so that
    evaluate, predict and --resume find them from any working directory.

    Values read from the environment (`${oc.env:VAR}`, and any interpolation whose value holds
    what such a variable gave) are saved unresolved: a token or password passed that way is
    not written into the run. Loading config.yaml reads the variable again."""
    from omegaconf import OmegaConf

    raw = OmegaConf.to_container(cfg, resolve=False)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    saved = OmegaConf.create(_unresolved_env(raw, resolved, _env_values(raw)))
    for key in ("path", "train_path", "val_path", "test_path"):
        value = saved.data.get(key)
        if isinstance(value, str) and value and "://" not in value and "${" not in value:
            saved.data[key] = os.path.abspath(os.path.expanduser(value))
    return OmegaConf.to_yaml(saved)


_ENV = re.compile(r"oc\.env\s*:\s*['\"]?([^,}'\"\s]+)")


def _env_values(raw: Any) -> list[str]:
    """The values of the environment variables that `${oc.env:...}` interpolations in `raw` read."""
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
        elif isinstance(node, str):
            names.update(_ENV.findall(node))

    walk(raw)
    return [os.environ[n] for n in sorted(names) if os.environ.get(n)]


def _unresolved_env(raw: Any, resolved: Any, secrets: list[str]) -> Any:
    """`resolved`, except interpolations that read the environment (or hold what it gave) stay as written."""
    if isinstance(raw, str) and "${" in raw:
        keep = "oc.env" in raw or any(s in str(resolved) for s in secrets)
        return raw if keep else resolved
    if isinstance(raw, dict) and isinstance(resolved, dict):
        return {k: _unresolved_env(raw[k], resolved[k], secrets) if k in raw else v for k, v in resolved.items()}
    if isinstance(raw, list) and isinstance(resolved, list) and len(raw) == len(resolved):
        return [_unresolved_env(r, v, secrets) for r, v in zip(raw, resolved)]
    return resolved


def write_json(path: str | Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=False, default=_jsonable) + "\n")


def _jsonable(value: Any):
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def runs(root: str | Path) -> list[Path]:
    """Every run directory under root, oldest first (run names sort by time)."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [
        p.parent
        for p in root.rglob(MARKER)
        if not any(part.startswith(".") for part in p.parent.relative_to(root).parts)  # staging; MLflow's copies
    ]
    return sorted(found, key=lambda p: (_stamp_order(p.name), str(p)))


def is_finished(run_dir: Path) -> bool:
    """Whether a run (or a K-fold parent) finished: metrics.json is the last file it writes."""
    return (Path(run_dir) / "metrics.json").is_file()


def _stamp_order(name: str) -> tuple[str, int]:
    """STAMP-10 after STAMP-9: the suffix counts runs started in the same second."""
    found = re.fullmatch(r"(\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d)-(\d+)", name)
    return (found[1], int(found[2])) if found else (name, 0)


def latest(root: str | Path, recipe: str | None = None, finished: bool = False) -> Path | None:
    """The newest run; plain `latest` skips `--smoke` runs (`smoke/latest` finds those).

    `finished`: only runs that wrote their metrics, for commands that need a trained model
    (a run still training in another terminal is not the one a user means).
    """
    base = Path(root) / recipe if recipe else Path(root)
    candidates = [
        p
        for p in runs(base)
        if "fold-" not in p.name
        and (recipe or p.relative_to(base).parts[0] != "smoke")
        and (not finished or is_finished(p))
    ]
    return candidates[-1] if candidates else None


def find(run: str, root: str | Path = "outputs", finished: bool = False) -> Path:
    """A run by directory, id (`recipe/stamp`), `latest` or `RECIPE/latest` (see `latest` for `finished`)."""
    path = Path(run).expanduser()
    if (path / MARKER).is_file():
        return path
    if (Path(root) / run / MARKER).is_file():
        return Path(root) / run
    if run.endswith("sweeps/latest") or any((p / SWEEP_SPEC).is_file() for p in (path, Path(root) / run)):
        raise ConfigError(
            Problem(
                "RUN",
                f"{run} is a sweep, not a run: name one of its trials, SWEEP/trials/N (dlcli runs compare SWEEP"
                " lists them)",
                "the sweep's best configuration trains again with: dlcli train recipe=SWEEP/best.yaml",
            )
        )
    head, sep, inside = run.partition("latest/")
    if sep and (head == "" or head.endswith("/")) and inside:  # latest/fold-2, RECIPE/latest/fold-2
        return find(str(find(head + "latest", root, finished) / inside), root)
    if run == "latest" or run.endswith("/latest"):
        recipe = run[: -len("/latest")] if run != "latest" else None
        found = latest(root, recipe, finished)
        if found is not None:
            return found
        what = f"{'finished ' if finished else ''}runs{' of ' + recipe if recipe else ''}"
        raise ConfigError(
            Problem("RUN", f"no {what} under {Path(root).resolve()}", "train one first: dlcli train recipe=NAME")
        )
    raise ConfigError(
        Problem(
            "RUN",
            f"no run {run!r}: not a run directory, nor a run id under {Path(root).resolve()}",
            "give a run directory, RECIPE/STAMP, latest or RECIPE/latest",
        )
    )


OVERRIDES = "overrides.yaml"


def load_config(run_dir: Path):
    """A run's saved config.yaml, typed by the schema as when it was composed.

    A file that is not one dlcli wrote (damaged, another tool's config.yaml, a YAML list)
    is a ConfigError naming it: the run cannot be reopened as what it is not."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from dlcli.config.schema import Config
    from dlcli.foreign import first_line

    file = Path(run_dir) / MARKER
    loaded = _read_mapping(file)
    if not {"model", "data", "train"} <= set(loaded.keys()):
        missing = ", ".join(k for k in ("model", "data", "train") if k not in loaded)
        _refuse(file, f"is not a dlcli run's config: it has no {missing}" if len(loaded) else "is empty")
    try:
        return OmegaConf.merge(OmegaConf.structured(Config), loaded)
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None)
        _refuse(file, f"is not a dlcli run's config{f' ({key})' if key else ''}: {first_line(exc)}", exc)


def load_overrides(run_dir: Path):
    """A run's overrides.yaml (its recipe, overrides and resumes), refused by name when damaged."""
    file = Path(run_dir) / OVERRIDES
    loaded = _read_mapping(file)
    if "recipe" not in loaded:
        _refuse(file, "is not a dlcli run's overrides.yaml: it has no recipe")
    return loaded


def _read_mapping(file: Path):
    import yaml
    from omegaconf import DictConfig, OmegaConf

    try:
        loaded = OmegaConf.load(file)
    except FileNotFoundError as exc:
        _refuse(file, "is missing", exc)
    except UnicodeDecodeError as exc:
        _refuse(file, f"is not text: byte {exc.start} is not UTF-8", exc)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        _refuse(file, f"is not valid YAML{f' (line {mark.line + 1}, column {mark.column + 1})' if mark else ''}", exc)
    if not isinstance(loaded, DictConfig):
        _refuse(file, f"is not a dlcli run's {file.name}: it holds a YAML list, not a mapping")
    return loaded


def _refuse(file: Path, what: str, cause: BaseException | None = None) -> NoReturn:
    hint = f"a run's {file.name} is written by dlcli train; give a run directory that holds one"
    raise ConfigError(Problem("RUN", f"{file} {what}", hint, code="not_a_run")) from cause
