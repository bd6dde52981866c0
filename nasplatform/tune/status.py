"""What an experiment folder says about its trials: counts per stage and status, and every failure with its error."""

from __future__ import annotations

import fcntl
import os
from collections import Counter
from pathlib import Path
from typing import Optional

from nasplatform.engine.lock import LOCK_NAME
from nasplatform.tune.collect import TrialRecord, read_stage
from nasplatform.tune.experiment import STAGES, read_plans, read_record
from nasplatform.tune.storage import Storage

STATUS_ORDER = ("ok", "diverged", "error", "running", "interrupted", "pending")
#: The lock file a driver (`run`, `resume`) holds on its experiment folder for its lifetime (engine/lock.py).
DRIVER_LOCK = LOCK_NAME  # the driver holds engine/lock.py's flock on EXP/.lock while it runs


def _flock_held(path: Path) -> bool:
    """Whether some process holds a flock on `path`: read from /proc/locks on Linux (taking the lock to test
    it could make a driver starting at that moment find its folder busy); elsewhere a non-blocking probe."""
    st = os.stat(path)
    key = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    try:
        with open("/proc/locks") as fh:
            return any(line.split()[1:2] == ["FLOCK"] and key in line.split() for line in fh)
    except OSError:
        pass
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def driver_alive(exp: Storage) -> Optional[bool]:
    """Whether a driver runs this experiment now; None where it cannot be told (object storage)."""
    path = exp.local_path(DRIVER_LOCK)
    if path is None:
        return None
    return path.is_file() and _flock_held(path)


def shown_status(record: TrialRecord, alive: Optional[bool]) -> str:
    """Tune's last saved state says "running" also after its driver died: without a driver it is interrupted."""
    return "interrupted" if record.status == "running" and alive is False else record.status


def _counts(records: list[TrialRecord], alive: Optional[bool]) -> str:
    counts = Counter(shown_status(r, alive) for r in records)
    return ", ".join(f"{counts[s]} {s}" for s in STATUS_ORDER if counts[s])


def _failure_lines(records: list[TrialRecord]) -> list[str]:
    lines = []
    for r in records:
        if r.status in ("error", "diverged"):
            retries = f", {r.num_failures} failure(s)" if r.num_failures else ""
            lines.append(f"    {r.status}: {r.plan.key} (trial {r.trial_id}{retries}): "
                         f"{r.error or r.last_result.get('message') or '-'}")
    return lines


def status_lines(exp: Storage) -> list[str]:
    """A human-readable summary of the experiment folder `exp`."""
    spec = read_record(exp).spec
    alive = driver_alive(exp)
    lines = [f"experiment {spec.name} (figure {spec.figure}) in {exp.uri}"]
    interrupted = 0
    for stage in STAGES:
        if read_plans(exp, stage) is None:
            wanted = spec.search.schemes if stage == "search" else spec.retrain.architectures
            lines.append(f"  {stage}: not planned yet" if wanted else f"  {stage}: not part of this spec")
            continue
        records = read_stage(exp, stage)
        lines.append(f"  {stage}: {len(records)} trial(s): {_counts(records, alive) or 'none'}")
        lines += _failure_lines(records)
        interrupted += sum(shown_status(r, alive) == "interrupted" for r in records)
    if interrupted:
        lines.append(f"  no driver is running this experiment: continue the {interrupted} interrupted trial(s) "
                     f"with `nasplatform resume {exp.uri}`")
    return lines
