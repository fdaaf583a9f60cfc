"""What every command shares: option types, consoles, and the error screen.

Kept free of JAX and Keras imports: commands import the heavy parts inside
their bodies, after the config has been checked.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
import tempfile
import traceback
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, List, NoReturn, Optional

import typer
from rich.console import Console
from rich.markup import escape

from dlcli import interrupt
from dlcli.errors import EXIT_FAILED, ConfigError, DlcliError, Interrupted, Problem

Overrides = Annotated[
    Optional[List[str]],
    typer.Argument(
        help="recipe=NAME (or recipe=path/to/file.yaml), then Hydra overrides: key=value, +key=value, ~key",
        show_default=False,
    ),
]
ConfigDirs = Annotated[
    Optional[List[Path]],
    typer.Option(
        "--config-dir",
        help="extra conf/-style directory (groups, recipes/); repeatable; also $DLCLI_CONFIG_PATH",
        show_default=False,
    ),
]
RunsRoot = Annotated[Path, typer.Option("--runs-dir", help="where run ids and `latest` are looked up")]
Run = Annotated[str, typer.Argument(help="run directory, run id (RECIPE/STAMP), latest or RECIPE/latest")]
RunOverrides = Annotated[
    Optional[List[str]],
    typer.Argument(help="data.* overrides of the run's config, e.g. data.test_path=other.csv", show_default=False),
]


TrustCode = Annotated[
    bool,
    typer.Option(
        "--trust-code",
        help="load a model.keras holding Python code (a Lambda layer), which Keras' safe mode refuses: loading runs that code, so only for a file you trust",
    ),
]


class Splits(str, Enum):
    test = "test"
    val = "val"
    train = "train"


SplitName = Annotated[
    Optional[Splits],
    typer.Option(help="which of the run's splits (default test); not with --input", show_default=False),
]
BatchSize = Annotated[
    Optional[int],
    typer.Option(min=1, help="samples per prediction batch (default: the run's train.batch_size)", show_default=False),
]


def chosen_split(split: Splits | None, input: Path | None) -> str:
    """The split to use: --split and --input both name the samples, so one of them would go unused."""
    if split is not None and input is not None:
        raise ConfigError(
            Problem(
                "--split",
                f"--split {split.value} and --input {input} both name the samples: --split one of the run's "
                "splits, --input a file of your own",
                f"drop --split to use {input}, or drop --input to use the {split.value} split",
            )
        )
    return (split or Splits.test).value


class State:
    debug = False
    quiet = False


# User text (values, paths, file contents, metric names) is printed as it is: these consoles
# interpret no Rich markup and no :emoji: codes. A print that styles passes markup=True and
# escapes (rich.markup.escape) every piece of user text in it, as `_style` does.
out = Console(markup=False, emoji=False)
err = Console(stderr=True, markup=False, emoji=False)


def dirs(config_dir: list[Path] | None) -> list[str]:
    return [str(d) for d in config_dir or []]


@contextmanager
def user_errors():
    """Turn dlcli's errors into one screen and an exit code; tracebacks only with --debug."""
    try:
        yield
        interrupt.check()  # a Ctrl-C something swallowed still ends the command as interrupted
    except (typer.Exit, typer.Abort):
        raise
    except DlcliError as exc:
        if State.debug:
            traceback.print_exc()
        for problem in exc.problems:
            err.print(_style(problem.render()), markup=True, highlight=False, soft_wrap=True)  # paths stay whole
        raise typer.Exit(interrupt.exit_code() if isinstance(exc, Interrupted) else exc.exit_code) from None
    except KeyboardInterrupt:
        _interrupted()
    except BrokenPipeError:  # the reader stopped early (`| head`): quiet, as a Unix tool ended by SIGPIPE
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # (Python's docs: the flush at exit)
        raise typer.Exit(128 + signal.SIGPIPE) from None
    except OSError as exc:  # a read-only or full disk, a permission: the file and the reason, not a traceback
        if State.debug:
            traceback.print_exc()
        where = f"{exc.filename}: " if exc.filename else ""
        run = _run_of(exc.filename)
        hint = {
            errno.ENOSPC: "free some space"
            + (f"; the run {run} continues with dlcli train --resume {run}" if run else ""),
            errno.EROFS: "write elsewhere (--runs-dir DIR for runs, another --output path for files)",
            errno.EACCES: "write elsewhere (--runs-dir DIR for runs, another --output path for files), or fix the permissions",
            errno.EPERM: "write elsewhere, or fix the permissions",
        }.get(exc.errno)
        problem = Problem("", f"{where}{exc.strerror or exc}", hint)
        err.print(_style(problem.render()), markup=True, highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_FAILED) from None
    except Exception as exc:  # a component raised during the run: exit 1
        if interrupt.requested():  # a library turned the Ctrl-C into an error of its own (OmegaConf does)
            _interrupted()
        if State.debug:
            traceback.print_exc()
        else:
            err.print(
                f"[bold red]error:[/] {escape(f'{type(exc).__name__}: {exc}')}\n(run with --debug for the traceback)",
                markup=True,
                highlight=False,
            )
        raise typer.Exit(EXIT_FAILED) from None


def _interrupted() -> NoReturn:
    err.print("[yellow]interrupted[/]", markup=True)
    raise typer.Exit(interrupt.exit_code())


_EXAMPLE = {"--output": "out.csv", "--plot": "curves.png"}  # a file to name inside a folder given


def refuse_to_replace(output: Path | None, force: bool, option: str = "--output") -> Path | None:
    """An --output (or the file of `option`, e.g. --plot) that exists is replaced only with --force: nothing
    a user made is lost. One that cannot be written (a directory, a folder that is a file, no permission)
    is refused before any work.

    Returns the file to write: an --output that is a link is written where it points, as the shell's `>`
    writes (the link stays), and is checked as that file (a run's own files are refused through a link too)."""
    if output is None:
        return None
    if output.is_symlink():
        output = Path(os.path.realpath(output))
    if output.is_dir():
        raise ConfigError(
            Problem(
                option,
                f"{output} is a directory",
                f"name a file, e.g. {option} {output / ('model' + output.suffix if output.suffix else _EXAMPLE[option])}",
            )
        )
    from dlcli.runs import rundir

    own = rundir.owner(output)
    if own is not None:  # even with --force: the run would no longer be what its files say
        raise ConfigError(
            Problem(
                option,
                f"{output} is dlcli's own {own[1]} of the run {own[0]}: it is not replaced, even with --force",
                "write it outside the run, or in a folder of your own inside it, e.g. RUN/mine/" + output.name,
            )
        )
    from dlcli.runs import sweeps

    sweep = sweeps.owner(output)
    if sweep is not None:  # summary.csv, sweep.yaml, the journal: what --resume and `runs compare` read
        raise ConfigError(
            Problem(
                option,
                f"{output} is dlcli's own file of the sweep {sweep}: it is not replaced, even with --force",
                "write it outside the sweep, or in a folder of your own inside it, e.g. SWEEP/mine/" + output.name,
            )
        )
    if output.is_file() and rundir.is_journal(output):  # a sweep's --storage FILE: its study, read by --resume
        raise ConfigError(
            Problem(
                option,
                f"{output} is an Optuna journal file (a sweep's study): it is not replaced, even with --force",
                "choose another path; to drop the study, delete the file yourself",
            )
        )
    if output.exists() and not force:
        raise ConfigError(Problem(option, f"{output} exists", "choose another path, or add --force to replace it"))
    folder = next((p for p in [output.parent, *output.parent.parents] if p.exists()), Path("."))
    if not folder.is_dir():
        raise ConfigError(Problem(option, f"cannot write {output}: {folder} is a file, not a folder"))
    if folder == output.parent:  # try it: os.access says yes to root on a read-only file system
        try:
            fd, probe = tempfile.mkstemp(dir=folder, prefix=f".{output.name}.")
        except OSError as exc:
            raise ConfigError(
                Problem(option, f"cannot write {output}: {exc.strerror or exc}", "choose a folder you can write to")
            ) from None
        os.close(fd)
        os.unlink(probe)
    elif not os.access(folder, os.W_OK):
        raise ConfigError(
            Problem(option, f"cannot write {output}: {folder} is not writable", "choose a folder you can write to")
        )
    return output


def _run_of(filename) -> Path | None:
    """The run directory a file lies in (the nearest folder holding config.yaml), if any."""
    if not filename:
        return None
    for folder in Path(str(filename)).parents:
        if (folder / "config.yaml").is_file() and not folder.name.startswith("."):
            return folder
    return None


def _style(text: str) -> str:
    """Rich markup for an error screen: the heads coloured, everything else (user text) escaped."""
    lines = []
    for line in text.splitlines():
        head, _, rest = line.partition(": ")
        if head in ("error", "hint"):
            colour = "red" if head == "error" else "cyan"
            lines.append(f"[bold {colour}]{head}:[/] {escape(rest)}")
        else:
            lines.append(escape(line))
    return "\n".join(lines)
