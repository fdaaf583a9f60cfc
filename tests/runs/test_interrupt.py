"""Ctrl-C held over native code: it interrupts once the block ends, not inside it."""

import os
import signal

import pytest

from dlcli import interrupt


def test_a_signal_inside_held_interrupts_when_the_block_ends(monkeypatch):
    monkeypatch.setattr(interrupt, "_received", None)
    before = signal.getsignal(signal.SIGINT)
    reached = False
    with pytest.raises(KeyboardInterrupt):
        with interrupt.held():
            os.kill(os.getpid(), signal.SIGINT)  # as jaxlib's import would be: nothing raised here
            reached = True
    assert reached and interrupt.exit_code() == 130
    assert signal.getsignal(signal.SIGINT) is before
