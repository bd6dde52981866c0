"""One writer per folder: an exclusive `flock` on FOLDER/.lock, held for as long as a run writes there.

Why flock on a lock file (docs/platform.md, "One writer per folder"): the kernel drops the lock when the
holding process dies, kill -9 included, so a crashed run never leaves a lock behind that must be removed by
hand or guessed stale from a PID (PIDs are reused, and a PID means nothing on another machine). The file
itself stays; only the lock on it counts, and the PID and host written into it are for the error message.
On NFS, Linux implements flock with the protocol's byte-range locks (NLM for v3, built in for v4), so two
machines exclude each other too, and the server drops the lock of a client that died once its lease ends;
a mount with `local_lock=flock` (or `nolock`) makes the lock local to one machine, which still keeps two
runs on one machine apart.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from collections.abc import Iterator
from pathlib import Path

LOCK_NAME = ".lock"


class FolderBusy(RuntimeError):
    """Another live process writes into the folder."""


@contextlib.contextmanager
def folder_lock(folder: str | Path, what: str = "run") -> Iterator[Path]:
    """Hold an exclusive lock on `folder` (created if missing) until the block ends; FolderBusy if taken."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            raise FolderBusy(
                f"{folder} is in use by {holder}: another {what} is writing into it. Wait for it to end "
                f"(or stop it), or choose another folder"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        yield path
    finally:
        os.close(fd)  # closing the last descriptor releases the flock
