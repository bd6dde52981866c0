"""Merged-kernel vs reference mixed ops: forward+backward time per cell type and whole supernet, and memory.

Run: `python -m benchmarks.mixed_op` (add `--quick` for a smoke run). Targets on 2 CPU cores: residual mixed op
>= 1.3x faster merged; generator supernet (256x256, batch 1, H=16) >= 1.25x; saved-for-backward memory
merged <= 0.5x reference. Memory is measured in a separate process per mode.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import torch

from benchmarks.harness import interleaved_medians, publish
from nasplatform.nets import GeneratorSupernet
from nasplatform.ops import MixedOp
from nasplatform.space import CellType


def _fwd_bwd(module: torch.nn.Module, x: torch.Tensor):
    def step():
        module.zero_grad(set_to_none=True)
        module(x).mean().backward()

    return step


def bench_cells(channels: int, size: int, repeats: int) -> dict:
    out = {}
    for ct in CellType:
        torch.manual_seed(0)
        op = MixedOp(ct, channels, channels)
        x = torch.randn(1, channels, size, size)
        merged = MixedOp(ct, channels, channels, mode="merged")
        merged.load_state_dict(op.state_dict())
        op.mode = "reference"
        t = interleaved_medians({"merged": _fwd_bwd(merged, x), "reference": _fwd_bwd(op, x)}, repeats)
        out[ct.name.lower()] = {
            "merged_ms": 1e3 * t["merged"],
            "reference_ms": 1e3 * t["reference"],
            "speedup": t["reference"] / t["merged"],
        }
    return out


def bench_supernet(n_cells: int, hidden_dim: int, size: int, repeats: int) -> dict:
    torch.manual_seed(0)
    ref = GeneratorSupernet(n_cells, hidden_dim, mode="reference")
    merged = GeneratorSupernet(n_cells, hidden_dim, mode="merged")
    merged.load_state_dict(ref.state_dict())
    x = torch.randn(1, 3, size, size)
    t = interleaved_medians({"merged": _fwd_bwd(merged, x), "reference": _fwd_bwd(ref, x)}, repeats)
    return {"merged_s": t["merged"], "reference_s": t["reference"], "speedup": t["reference"] / t["merged"]}


def saved_bytes(mode: str, n_cells: int, hidden_dim: int, size: int) -> dict:
    """Bytes autograd saves for backward (each storage once), plus the parameters, for one fwd+bwd."""
    import resource

    torch.manual_seed(0)
    net = GeneratorSupernet(n_cells, hidden_dim, mode=mode)
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor):
        s = t.untyped_storage()
        storages[s.data_ptr()] = s.nbytes()
        return t

    x = torch.randn(1, 3, size, size)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        y = net(x)
    y.mean().backward()
    params = sum(p.numel() * p.element_size() for p in net.parameters())
    saved = sum(storages.values())
    return {
        "saved_mb": saved / 1e6,
        "params_mb": params / 1e6,
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3,
    }


def memory_in_subprocess(mode: str, n_cells: int, hidden_dim: int, size: int) -> dict:
    code = (
        f"import json; from benchmarks.mixed_op import saved_bytes; "
        f"print(json.dumps(saved_bytes({mode!r}, {n_cells}, {hidden_dim}, {size})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    args = parser.parse_args(argv)
    channels, cell_size, net_size, repeats = (16, 32, 64, 3) if args.quick else (64, 64, 256, 5)
    n_cells, hidden_dim = 11, 16
    cells = bench_cells(channels, cell_size, repeats)
    supernet = bench_supernet(n_cells, hidden_dim, net_size, repeats)
    mem = {mode: memory_in_subprocess(mode, n_cells, hidden_dim, net_size) for mode in ("merged", "reference")}
    ratio = (mem["merged"]["saved_mb"] + mem["merged"]["params_mb"]) / (
        mem["reference"]["saved_mb"] + mem["reference"]["params_mb"]
    )
    figures = {
        "setting": {
            "cell_channels": channels,
            "cell_size": cell_size,
            "supernet_size": net_size,
            "n_cells": n_cells,
            "hidden_dim": hidden_dim,
            "batch": 1,
            "repeats": repeats,
            "quick": args.quick,
        },
        "cells": cells,
        "supernet": supernet,
        "memory": {**mem, "merged_over_reference": ratio},
        "targets": {
            "residual_speedup>=1.3": cells["residual"]["speedup"] >= 1.3,
            "supernet_speedup>=1.25": supernet["speedup"] >= 1.25,
            "memory_ratio<=0.5": ratio <= 0.5,
        },
    }
    return publish("mixed_op_quick" if args.quick else "mixed_op", figures)


if __name__ == "__main__":
    main()
