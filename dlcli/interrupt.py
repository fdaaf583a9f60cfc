"""Ctrl-C and SIGTERM that cannot be lost.

Python raises KeyboardInterrupt wherever the main thread happens to be; when
that is inside a callback JAX runs from the garbage collector, Python prints
"Exception ignored" and carries on, and a run that was asked to stop trains to
the end and exits 0. So the signal also sets a flag: training checks it at
every epoch start (RunState) and a command that ends with it set exits 130
(143 for SIGTERM, what Slurm, Kubernetes and systemd send before they kill).
The "Exception ignored" report of a swallowed interrupt is not printed: the
flag carries it.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading

_received: int | None = None


def install() -> None:
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    sys.unraisablehook = _unraisable


def _on_signal(signum, frame) -> None:
    global _received
    _received = signum
    raise KeyboardInterrupt


def _unraisable(report) -> None:
    if isinstance(report.exc_value, KeyboardInterrupt) and _received is not None:
        return  # swallowed where it could not be raised (JAX's gc callback): the flag stops the run
    sys.__unraisablehook__(report)


def requested() -> bool:
    return _received is not None


def check() -> None:
    """Raise the KeyboardInterrupt a swallowed signal should have raised."""
    if _received is not None:
        raise KeyboardInterrupt


def exit_code() -> int:
    """128 + the signal's number, as shells report it: 130 for Ctrl-C, 143 for SIGTERM."""
    return 128 + (_received or signal.SIGINT)


@contextlib.contextmanager
def ending_the_process():
    """Ctrl-C and SIGTERM end the process at once (the shell reports 130 or 143) while the main
    thread waits in C++ code that never returns to Python until it is done, such as JAX joining
    several processes: a Python handler would run only then. For waits before anything is written."""
    if threading.current_thread() is not threading.main_thread():  # (only the main thread handles signals)
        yield
        return
    before = {s: signal.signal(s, signal.SIG_DFL) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def held():
    """Ctrl-C and SIGTERM wait until the block ends, then interrupt as usual: for native code that
    calls back into Python (jaxlib's import), where a KeyboardInterrupt raised in a callback ends
    the process through C++'s terminate (exit 134) instead of an interruption (130)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = {s: signal.signal(s, _hold) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)
    check()


def _hold(signum, frame) -> None:
    global _received
    _received = signum
