"""Ctrl-C always stops a command (nasplatform/interrupt.py), even when its KeyboardInterrupt lands in a finaliser."""

from __future__ import annotations

import gc
import os
import signal
import time

import pytest

from nasplatform import interrupt

# the point of these tests is a KeyboardInterrupt that Python drops in a finaliser; pytest reports each drop
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


class SignalledWhileCollected:
    """A finaliser in which SIGINT arrives: Python raises the KeyboardInterrupt there and drops it."""

    def __del__(self):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)  # the handler runs here, inside __del__


def swallow_a_ctrl_c() -> None:
    SignalledWhileCollected()  # collected at once: __del__ runs, its KeyboardInterrupt is "ignored"
    gc.collect()


def test_a_ctrl_c_lost_in_a_finaliser_stops_the_next_batch():
    seen = []
    with pytest.raises(KeyboardInterrupt):
        with interrupt.remembered():
            for item in interrupt.checked(range(5)):
                seen.append(item)
                if item == 1:
                    swallow_a_ctrl_c()
    assert seen == [0, 1]


def test_without_the_check_the_loop_runs_on():
    """What checked() is for: the plain loop never sees the Ctrl-C."""
    seen = []
    with interrupt.remembered():
        for item in range(5):
            seen.append(item)
            if item == 1:
                swallow_a_ctrl_c()
        assert interrupt.requested()
    assert seen == [0, 1, 2, 3, 4]


def test_the_previous_handler_is_back_and_nothing_is_remembered_after_the_block():
    before = signal.getsignal(signal.SIGINT)
    with interrupt.remembered():
        swallow_a_ctrl_c()
        assert interrupt.requested()
    assert signal.getsignal(signal.SIGINT) is before and not interrupt.requested()
    assert list(interrupt.checked(range(3))) == [0, 1, 2]
