"""Ctrl-C that always stops a command: the SIGINT is remembered, so a KeyboardInterrupt that was swallowed is raised
again at the next batch (torch-free)."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

_requested = threading.Event()


def _on_sigint(signum, frame) -> None:
    _requested.set()
    raise KeyboardInterrupt


@contextlib.contextmanager
def remembered() -> Iterator[None]:
    """Within the block SIGINT raises KeyboardInterrupt as Python's default does, and is remembered.

    Why remember: Python raises the KeyboardInterrupt in whatever code runs when the signal arrives. When that is
    a finaliser (a garbage-collected matplotlib figure's weakref callback, a __del__), Python prints "Exception
    ignored" and drops it, and a training loop would run on as if Ctrl-C had never been pressed; `checked()`
    raises it again at the next batch. The previous handler is put back afterwards. Outside the main thread
    (where no handler can be set) the block runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, _on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _requested.clear()


def requested() -> bool:
    return _requested.is_set()


def raise_if_requested() -> None:
    if _requested.is_set():
        raise KeyboardInterrupt


def checked(items: Iterable[T]) -> Iterator[T]:
    """`items`, raising KeyboardInterrupt before the next one once a Ctrl-C has come."""
    for item in items:
        raise_if_requested()
        yield item
