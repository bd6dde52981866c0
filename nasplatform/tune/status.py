"""What an experiment folder says about its trials: counts per stage and status, failures, and a live per-trial view."""

from __future__ import annotations

import fcntl
import math
import os
from collections import Counter
from pathlib import Path

from nasplatform.engine.lock import LOCK_NAME
from nasplatform.tune.collect import TrialRecord, read_stage, run_dir_of
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


def driver_alive(exp: Storage) -> bool | None:
    """Whether a driver runs this experiment now; None where it cannot be told (object storage)."""
    path = exp.local_path(DRIVER_LOCK)
    if path is None:
        return None
    return path.is_file() and _flock_held(path)


def shown_status(record: TrialRecord, alive: bool | None) -> str:
    """Tune's last saved state says "running" also after its driver died: without a driver it is interrupted."""
    return "interrupted" if record.status == "running" and alive is False else record.status


def _counts(records: list[TrialRecord], alive: bool | None) -> str:
    counts = Counter(shown_status(r, alive) for r in records)
    return ", ".join(f"{counts[s]} {s}" for s in STATUS_ORDER if counts[s])


def _failure_lines(records: list[TrialRecord]) -> list[str]:
    lines = []
    for r in records:
        if r.status in ("error", "diverged"):
            retries = f", {r.num_failures} failure(s)" if r.num_failures else ""
            lines.append(
                f"    {r.status}: {r.plan.key} (trial {r.trial_id}{retries}): "
                f"{r.error or r.last_result.get('message') or '-'}"
            )
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
        lines.append(
            f"  no driver is running this experiment: continue the {interrupted} interrupted trial(s) "
            f"with `nasplatform resume {exp.uri}`"
        )
    return lines


# ---------------------------------------------------------------- the live view (`status --watch`)

#: Losses shown per trial when the last result has them (the engine's metrics columns).
WATCHED_LOSSES = ("loss_g", "loss_cyc", "loss_d_a", "loss_d_b")


def _duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "-"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


def seconds_per_epoch(record: TrialRecord) -> float | None:
    """Training seconds per epoch so far (elapsed_s counts training time across resumes), None before epoch 1."""
    epoch, elapsed = record.last_result.get("epoch"), record.last_result.get("elapsed_s")
    if not epoch or elapsed is None or not math.isfinite(float(elapsed)):
        return None
    return float(elapsed) / int(epoch)


def remaining_seconds(record: TrialRecord, fallback_per_epoch: float | None) -> float:
    """Training time left for one trial: its own pace, or the stage's for trials that have not reported yet."""
    if record.status in ("ok", "diverged", "error"):
        return 0.0
    pace = seconds_per_epoch(record) or fallback_per_epoch
    if pace is None:
        return math.nan
    return max(0, record.plan.epochs_planned - int(record.last_result.get("epoch") or 0)) * pace


def stage_eta(records: list[TrialRecord]) -> float | None:
    """Seconds until the stage's training ends: the work left, shared by the trials running now (>= 1 at a time)."""
    paces = [p for p in (seconds_per_epoch(r) for r in records) if p is not None]
    fallback = sum(paces) / len(paces) if paces else None
    left = [remaining_seconds(r, fallback) for r in records]
    if any(math.isnan(s) for s in left):
        return None
    running = sum(1 for r in records if r.status == "running")
    return sum(left) / max(1, running)


def last_metrics_row(exp: Storage, stage: str, record: TrialRecord) -> dict:
    """The last row of the trial's metrics.parquet (its run folder, or its newest checkpoint on object storage);
    {} when there is none yet. Tune's last result lacks the losses once the trial has sent its final report."""
    import pyarrow.parquet as pq

    run_dir = run_dir_of(exp, record)
    if run_dir is None or not exp.exists(run_dir, "metrics.parquet"):
        return {}
    try:
        rows = pq.read_table(exp.path(run_dir, "metrics.parquet"), filesystem=exp.fs).to_pylist()
    except (OSError, ValueError):  # replaced while being read: the next refresh reads it whole
        return {}
    return rows[-1] if rows else {}


def trial_line(record: TrialRecord, metrics: dict) -> str:
    result = record.last_result
    epoch = int(result.get("epoch") or 0)
    values = {**metrics, **{k: v for k, v in result.items() if k in WATCHED_LOSSES}}
    losses = " ".join(
        f"{name}={values[name]:.3f}"
        for name in WATCHED_LOSSES
        if isinstance(values.get(name), (int, float)) and math.isfinite(values[name])
    )
    pace = seconds_per_epoch(record)
    eta = remaining_seconds(record, None) if record.status == "running" else None
    return (
        f"    {record.plan.key:<28} {record.status:<8} epoch {epoch:>3}/{record.plan.epochs_planned:<3} "
        f"{_duration(pace):>7}/epoch  ETA {_duration(eta):>7}  {losses or '-'}"
    )


def watch_lines(exp: Storage, now: str | None = None) -> list[str]:
    """One frame of `status --watch`: per stage its counts and ETA, then every trial's epoch, pace, ETA and losses.

    Read from the experiment folder alone (the plans and Tune's experiment state, which the driver saves every
    few seconds), so it works on object storage and never joins Ray."""
    spec = read_record(exp).spec
    alive = driver_alive(exp)
    lines = [f"experiment {spec.name} (figure {spec.figure}) in {exp.uri}" + (f"  [{now}]" if now else "")]
    for stage in STAGES:
        if read_plans(exp, stage) is None:
            lines.append(f"  {stage}: not planned yet")
            continue
        records = read_stage(exp, stage)
        unfinished = any(r.status in ("running", "pending") for r in records)
        eta = f", ETA {_duration(stage_eta(records))}" if unfinished else ""
        lines.append(f"  {stage}: {len(records)} trial(s): {_counts(records, alive) or 'none'}{eta}")
        lines += [trial_line(r, last_metrics_row(exp, stage, r)) for r in records]
        lines += _failure_lines(records)
    return lines
