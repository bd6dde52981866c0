"""Scaling of the OF search iteration: time and peak memory vs the number of cells N and vs the image size.

Run: `python -m benchmarks.scaling` (`--quick` for a smoke run). Every point is one real `OneStepFull.step` on
four supernets (H=16, ndf=64, batch 1); all points are timed in turns within one run. The growth is fitted by least
squares on log-log axes: time ~ N^k and time ~ side^k. Expected: k close to 1 in N (only the generators' residual
cells grow with N, so k < 1 with the discriminators' fixed cost), and close to 2 in the image side (linear in
pixels). A super-linear term is flagged when a fitted or a local (point-to-point) exponent exceeds 1.1 in N or 2.2
in the side. Affine fits (time = fixed + slope * N, and likewise per megapixel) separate the cost of one more
cell or pixel from the fixed part, which pulls the log-log exponents below 1 and 2.
"""

from __future__ import annotations

import argparse
import math
import os

import numpy as np
import torch

from benchmarks.harness import interleaved_times, publish
from benchmarks.iteration import Setting, command_line, peak_memory, search_step

#: Exponents above these count as super-linear (10% slack over linear in N, linear in pixels).
SUPERLINEAR = {"n_cells": 1.1, "image_size": 2.2}


def loglog_exponent(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of log(y) on log(x)."""
    slope, _ = np.polyfit(np.log(xs), np.log(ys), 1)
    return float(slope)


def local_exponents(xs: list[float], ys: list[float]) -> list[float]:
    """Slopes between consecutive points on log-log axes: a rising slope reveals a super-linear term."""
    return [math.log(ys[i + 1] / ys[i]) / math.log(xs[i + 1] / xs[i]) for i in range(len(xs) - 1)]


def growth(axis: str, xs: list[int], points: dict[int, dict], metric: str) -> dict:
    """Fitted and local exponents of `metric` along `axis`, with the super-linear flag."""
    ys = [points[x][metric] for x in xs]
    fitted, local = loglog_exponent(xs, ys), local_exponents(xs, ys)
    limit = SUPERLINEAR[axis]
    return {
        "exponent": round(fitted, 3),
        "local_exponents": [round(e, 3) for e in local],
        "superlinear": bool(fitted > limit or max(local) > limit),
        "limit": limit,
    }


def affine(xs: list[float], ys: list[float]) -> dict:
    """y = fixed + slope * x by least squares, and the slope between each pair of consecutive points: a linear
    cost on top of a fixed one (the discriminators, kernel assembly, optimizer) keeps these slopes level."""
    slope, fixed = np.polyfit(xs, ys, 1)
    steps = [(ys[i + 1] - ys[i]) / (xs[i + 1] - xs[i]) for i in range(len(xs) - 1)]
    return {
        "slope": round(float(slope), 6),
        "fixed": round(float(fixed), 4),
        "local_slopes": [round(v, 6) for v in steps],
    }


def measure(points: list[tuple[int, int]], base: Setting, repeats: int, warmup: int) -> dict[tuple[int, int], dict]:
    """Time (interleaved) and saved-tensor peak of one OF step at each (N, image size)."""
    steps = {p: search_step(Setting(p[1], p[0], base.hidden_dim, base.ndf, base.device, base.accel)) for p in points}
    names = {p: f"N={p[0]}/size={p[1]}" for p in points}
    times = interleaved_times(
        {names[p]: s.run for p, s in steps.items()}, base.device, repeats, warmup, desc="scaling points"
    )
    return {p: {**times[names[p]], **peak_memory(s, base.device)} for p, s in steps.items()}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny networks and images: a smoke run")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--n-cells", default="5,8,11,14", help="N values (comma-separated)")
    parser.add_argument("--sizes", default="64,128,256", help="image sides (comma-separated)")
    parser.add_argument(
        "--n-sweep-size",
        type=int,
        default=128,
        help="image side of the N sweep (default 128: a 256 sweep takes ~4x longer on CPU)",
    )
    parser.add_argument("--size-sweep-n", type=int, default=11, help="N of the image-size sweep")
    parser.add_argument("--hidden-dim", type=int, default=16)
    parser.add_argument("--ndf", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1, as benchmarks.iteration)")
    args = parser.parse_args(argv)
    if args.quick:
        args.n_cells, args.sizes, args.n_sweep_size, args.size_sweep_n = "3,5", "32,48", 32, 3
        args.hidden_dim, args.ndf, args.repeats = 2, 4, 1
    args.n_cells = [int(n) for n in args.n_cells.split(",")]
    args.sizes = [int(s) for s in args.sizes.split(",")]
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    base = Setting(hidden_dim=args.hidden_dim, ndf=args.ndf, device=args.device)
    n_points = [(n, args.n_sweep_size) for n in args.n_cells]
    size_points = [(args.size_sweep_n, s) for s in args.sizes]
    load_before = os.getloadavg()
    measured = measure(list(dict.fromkeys(n_points + size_points)), base, args.repeats, args.warmup)
    by_n = {n: measured[(n, args.n_sweep_size)] for n in args.n_cells}
    by_size = {s: measured[(args.size_sweep_n, s)] for s in args.sizes}
    on_cpu = torch.device(args.device).type == "cpu"
    # one thread's CPU seconds resist a busy machine; on a GPU the wall time is the figure
    clock, memory = ("cpu_s", "peak_saved_mb") if on_cpu else ("wall_s", "peak_above_baseline_mb")
    fits = {
        "time_vs_n": growth("n_cells", args.n_cells, by_n, clock),
        "memory_vs_n": growth("n_cells", args.n_cells, by_n, memory),
        "time_vs_size": growth("image_size", args.sizes, by_size, clock),
        "memory_vs_size": growth("image_size", args.sizes, by_size, memory),
        # per cell: seconds and MB; per megapixel of input image: seconds and MB
        "time_affine_in_n": affine(args.n_cells, [by_n[n][clock] for n in args.n_cells]),
        "memory_affine_in_n": affine(args.n_cells, [by_n[n][memory] for n in args.n_cells]),
        "time_affine_in_megapixels": affine([s * s / 1e6 for s in args.sizes], [by_size[s][clock] for s in args.sizes]),
        "memory_affine_in_megapixels": affine(
            [s * s / 1e6 for s in args.sizes], [by_size[s][memory] for s in args.sizes]
        ),
    }
    rounded = lambda d: {k: round(v, 4) for k, v in d.items()}  # noqa: E731
    figures = {
        "command": command_line("scaling", argv),
        "setting": {
            "hidden_dim": args.hidden_dim,
            "ndf": args.ndf,
            "batch": 1,
            "scheme": "OF",
            "mode": "merged",
            "n_sweep_image_size": args.n_sweep_size,
            "size_sweep_n_cells": args.size_sweep_n,
            "device": args.device,
            "repeats": args.repeats,
            "time_figure": clock,
            "memory_figure": memory,
            "quick": args.quick,
        },
        "load_avg_1min": {"before": round(load_before[0], 2), "after": round(os.getloadavg()[0], 2)},
        "vs_n_cells": {str(n): rounded(v) for n, v in by_n.items()},
        "vs_image_size": {str(s): rounded(v) for s, v in by_size.items()},
        "fits": fits,
        "superlinear_terms": [k for k, v in fits.items() if v.get("superlinear")],
    }
    return publish("scaling_quick" if args.quick else "scaling", figures)


if __name__ == "__main__":
    main()
