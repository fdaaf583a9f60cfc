"""Ctrl-C that cannot be lost.

Python raises KeyboardInterrupt wherever the main thread happens to be; when
that is inside a callback JAX runs from the garbage collector, Python prints
"Exception ignored" and carries on, and a run that was asked to stop trains to
the end and exits 0. So the signal also sets a flag: training checks it at
every epoch start (RunState) and a command that ends with it set exits 130.
"""

from __future__ import annotations

import signal

_requested = False


def install() -> None:
    signal.signal(signal.SIGINT, _on_sigint)


def _on_sigint(signum, frame) -> None:
    global _requested
    _requested = True
    raise KeyboardInterrupt


def check() -> None:
    """Raise the KeyboardInterrupt a swallowed Ctrl-C should have raised."""
    if _requested:
        raise KeyboardInterrupt
