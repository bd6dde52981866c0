"""Child processes of tests: each leads a process group of its own, which is ended whatever happens (success,
failure, Ctrl-C), and is waited for while it makes progress, never against a wall-clock budget."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

#: Seconds without any sign of progress (new output, a changed file) after which a child counts as hung. Generous:
#: on a busy machine a step may print nothing for minutes; a hang is silent for good.
STALL_S = float(os.environ.get("NASPLATFORM_TEST_STALL_S", "600"))
#: Seconds a child gets to exit after SIGTERM before its process group is SIGKILLed.
STOP_GRACE_S = 15.0


class Stalled(AssertionError):
    """A child showed no progress for STALL_S seconds (it was stopped)."""


def end_group(process: subprocess.Popen, grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM the process group PROCESS leads, SIGKILL it if the leader lingers; then SIGKILL whatever of the group
    is left (grandchildren outlive a leader that exits at once)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(grace_s)
            except subprocess.TimeoutExpired:
                pass
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@contextlib.contextmanager
def started(command: list[str], **popen_kwargs) -> Iterator[subprocess.Popen]:
    """Popen in a session of its own; its process group is ended on the way out, whatever happened."""
    process = subprocess.Popen(command, start_new_session=True, **popen_kwargs)
    try:
        yield process
    finally:
        end_group(process)


def _newest_change(paths: Iterable[Path]) -> tuple[float, int]:
    """(newest mtime, number of files) under PATHS: a file written or added counts as progress."""
    newest, count = 0.0, 0
    for path in paths:
        for folder, _, files in os.walk(path):
            for name in files:
                with contextlib.suppress(OSError):
                    newest = max(newest, os.stat(os.path.join(folder, name)).st_mtime)
                    count += 1
    return newest, count


class Progress:
    """Remembers when something last moved: the sizes of the given output files, the files under watched folders,
    or anything `extra()` returns."""

    def __init__(
        self, outputs: Iterable[Path] = (), watch: Iterable[Path] = (), extra: Callable[[], object] | None = None
    ):
        self.outputs, self.watch, self.extra = list(outputs), list(watch), extra
        self.last, self.at = self._sample(), time.monotonic()

    def _sample(self) -> tuple:
        sizes = tuple(p.stat().st_size if p.exists() else -1 for p in self.outputs)
        return sizes, _newest_change(self.watch), self.extra() if self.extra else None

    def stalled_for(self) -> float:
        """Seconds since the last change (0 when something changed since the previous call)."""
        now = self._sample()
        if now != self.last:
            self.last, self.at = now, time.monotonic()
        return time.monotonic() - self.at


def wait_while_progressing(
    process: subprocess.Popen,
    progress: Progress,
    what: str,
    stall_s: float = STALL_S,
    until: Callable[[], bool] | None = None,
    poll_s: float = 0.2,
) -> None:
    """Wait for PROCESS to exit (or for UNTIL() to hold while it runs); raise Stalled, after ending its group, if
    PROGRESS shows no change for STALL_S seconds."""
    while process.poll() is None and not (until and until()):
        if progress.stalled_for() > stall_s:
            end_group(process)
            raise Stalled(f"{what}: no progress (output, files) for {stall_s:g} s; stopped")
        time.sleep(poll_s)


def run_watched(
    command: list[str], *, watch: Iterable[Path] = (), stall_s: float = STALL_S, **popen_kwargs
) -> subprocess.CompletedProcess:
    """Run COMMAND to its end, stdout and stderr captured as text; it may take any time while its output grows or
    files under WATCH change, and is stopped (Stalled) after STALL_S seconds without either."""
    with tempfile.TemporaryDirectory(prefix="watched-") as folder:
        out_path, err_path = Path(folder) / "stdout", Path(folder) / "stderr"
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            with started(command, stdout=out, stderr=err, **popen_kwargs) as process:
                progress = Progress([out_path, err_path], watch)
                try:
                    wait_while_progressing(process, progress, " ".join(map(str, command))[:200], stall_s)
                except Stalled as exc:
                    tail = (out_path.read_text(errors="replace") + err_path.read_text(errors="replace"))[-3000:]
                    raise Stalled(f"{exc}; end of its output:\n{tail}") from None
        return subprocess.CompletedProcess(
            command, process.returncode, out_path.read_text(errors="replace"), err_path.read_text(errors="replace")
        )
