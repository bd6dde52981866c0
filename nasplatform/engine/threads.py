"""How many torch threads a run uses: asked for, or chosen from the CPUs this process may use and how idle they are.

Why not torch's default (one thread per CPU): torch's OpenMP runtime (libgomp) spin-waits at every parallel
region's barrier, so a thread that shares its core with another job stalls the others; benchmarks/threads.py
measured a retrain-like iteration 43-55x slower with 2 threads than with 1 on a shared 2-core machine. So the
default takes only the CPUs that are idle now (PERFORMANCE.md, "Threads"); the CLI also sets
OMP_WAIT_POLICY=PASSIVE, which keeps 2 threads within ~2x of 1 if the machine gets busy later.
"""

from __future__ import annotations

import math
import os
import time

#: How long the CPUs' idle time is sampled when choosing the default (seconds).
SAMPLE_S = 0.25
#: A CPU at least this idle over the sample counts as free.
FREE_FRACTION = 0.5


def allowed_cpus() -> list[int]:
    """The CPUs this process may run on (its affinity mask; all CPUs where the OS has no such call)."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:
        return list(range(os.cpu_count() or 1))


def _cpu_times(cpus: list[int]) -> dict[int, tuple[int, int]] | None:
    """(busy, total) jiffies of each CPU in `cpus` from /proc/stat; None where that file is not there."""
    try:
        lines = open("/proc/stat", encoding="ascii").read().splitlines()
    except OSError:
        return None
    times = {}
    for line in lines:
        name, *fields = line.split()
        if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus:
            values = [int(v) for v in fields[:8]]
            idle = values[3] + values[4]  # idle + iowait
            times[int(name[3:])] = (sum(values) - idle, sum(values))
    return times


def idle_fractions(cpus: list[int], sample_s: float = SAMPLE_S) -> dict[int, float] | None:
    """How idle each CPU was over the next `sample_s` seconds (1 = not used at all); None without /proc/stat."""
    before = _cpu_times(cpus)
    if not before:
        return None
    time.sleep(sample_s)
    after = _cpu_times(cpus) or {}
    fractions = {}
    for cpu, (busy0, total0) in before.items():
        busy1, total1 = after.get(cpu, (busy0, total0))
        span = total1 - total0
        fractions[cpu] = 1.0 if span <= 0 else 1.0 - (busy1 - busy0) / span
    return fractions


def free_cpus(cpus: list[int]) -> int:
    """Allowed CPUs that nothing else is using now: sampled from /proc/stat, else from the 1-minute load average."""
    fractions = idle_fractions(cpus)
    if fractions is not None:
        return sum(1 for f in fractions.values() if f >= FREE_FRACTION)
    try:
        load = os.getloadavg()[0]
    except OSError:
        return len(cpus)
    return max(0, len(cpus) - math.ceil(load - 0.5))


def default_threads() -> int:
    """One thread per allowed CPU that is idle now, at least one (see the module docstring for why)."""
    return max(1, min(len(allowed_cpus()), free_cpus(allowed_cpus())))


def choose_threads(requested: int | None) -> int:
    """`requested` when given (>= 1), else default_threads()."""
    if requested is None:
        return default_threads()
    if int(requested) < 1:
        raise ValueError(f"threads must be at least 1, not {requested}")
    return int(requested)


def use_threads(requested: int | None) -> int:
    """Set torch's intra-op threads to choose_threads(requested); return the number set."""
    import torch

    threads = choose_threads(requested)
    torch.set_num_threads(threads)
    return threads
