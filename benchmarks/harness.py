"""Shared benchmark plumbing: interleaved timing, machine facts and the results/<name>.json files."""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def _sync(device: str) -> None:
    import torch

    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def interleaved_times(
    fns: dict[str, Callable[[], None]], device: str, repeats: int, warmup: int = 1, desc: str = ""
) -> dict[str, dict[str, float]]:
    """Median wall and CPU seconds of each callable, run in turns (a, b, a, b, ...) so that machine noise hits all
    alike; a CUDA device is synchronised around each call. The one timing loop of the benchmarks."""
    from tqdm.auto import tqdm

    for _ in range(warmup):
        for fn in fns.values():
            fn()
    wall: dict[str, list[float]] = {k: [] for k in fns}
    cpu: dict[str, list[float]] = {k: [] for k in fns}
    for _ in tqdm(range(repeats), desc=desc or "timing", leave=False, file=sys.stderr):
        for name, fn in fns.items():
            _sync(device)
            w, c = time.perf_counter(), time.process_time()
            fn()
            _sync(device)
            wall[name].append(time.perf_counter() - w)
            cpu[name].append(time.process_time() - c)
    return {
        k: {
            "wall_s": statistics.median(wall[k]),
            "cpu_s": statistics.median(cpu[k]),
            "it_per_s": 1.0 / statistics.median(wall[k]),
        }
        for k in fns
    }


def interleaved_medians(fns: dict[str, Callable[[], None]], repeats: int = 5, warmup: int = 2) -> dict[str, float]:
    """Median wall seconds of each callable on the CPU (interleaved_times)."""
    return {name: t["wall_s"] for name, t in interleaved_times(fns, "cpu", repeats, warmup).items()}


def machine() -> dict:
    import torch

    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def publish(name: str, figures: dict) -> dict:
    """Add machine facts, write benchmarks/results/<name>.json, print the one-line JSON."""
    figures = {"benchmark": name, **figures, "machine": machine()}
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / f"{name}.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures))
    return figures
