"""What an experiment folder says about its trials: counts per stage and status, and every failure with its error."""

from __future__ import annotations

from collections import Counter

from nasplatform.tune.collect import TrialRecord, read_stage
from nasplatform.tune.experiment import STAGES, read_plans, read_record
from nasplatform.tune.storage import Storage

STATUS_ORDER = ("ok", "diverged", "error", "running", "pending")


def _counts(records: list[TrialRecord]) -> str:
    counts = Counter(r.status for r in records)
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
    lines = [f"experiment {spec.name} (figure {spec.figure}) in {exp.uri}"]
    for stage in STAGES:
        if read_plans(exp, stage) is None:
            wanted = spec.search.schemes if stage == "search" else spec.retrain.architectures
            lines.append(f"  {stage}: not planned yet" if wanted else f"  {stage}: not part of this spec")
            continue
        records = read_stage(exp, stage)
        lines.append(f"  {stage}: {len(records)} trial(s): {_counts(records) or 'none'}")
        lines += _failure_lines(records)
    return lines
