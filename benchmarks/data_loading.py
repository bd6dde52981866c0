"""Unpaired data loader throughput, cold (decoding) and cached, at CycleGAN's 286 -> 256 training transform.

Run: `python -m benchmarks.data_loading` (`--quick` for a smoke run). Builds a photo2winter demo dataset in a
temporary folder and reads it through a `torch.utils.data.DataLoader` (num_workers=0, batch 1). An item is one
(a, b) pair, i.e. two images. Target: the loader delivers >= 5x the pairs per second that a search step
consumes once cached. The search-step rate is measured in the same run: one OF iteration (`OneStepFull.step` on the
four supernets, N=11, H=16, ndf=64, batch 1) at 256x256 on one thread, as `benchmarks.iteration` measures it.
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.harness import interleaved_times, publish
from benchmarks.iteration import Setting, command_line, search_step
from nasplatform.data import UnpairedDataset, build_demo
from nasplatform.engine.config import DataConfig

LOAD_SIZE, CROP_SIZE = 286, 256


def timed_passes(cfg: DataConfig, passes: int, cache_dir: Path | None = None) -> tuple[float, list[float]]:
    """Seconds to open the dataset (the decoding check) and seconds of each full pass through a DataLoader."""
    start = time.perf_counter()
    dataset = UnpairedDataset(cfg, "train", seed=0, cache_dir=str(cache_dir) if cache_dir else None, progress=False)
    open_s = time.perf_counter() - start
    loader = torch.utils.data.DataLoader(dataset, batch_size=1, shuffle=False, num_workers=0)
    times = []
    for epoch in range(passes):
        dataset.set_epoch(epoch)
        start = time.perf_counter()
        for _ in loader:
            pass
        times.append(time.perf_counter() - start)
    return open_s, times


def rates(items: int, open_s: float, times: list[float]) -> dict:
    """Pairs/s of the first pass counting the open (cold) and of the later passes (cached)."""
    cold = items / (open_s + times[0])
    out = {"open_s": round(open_s, 3), "cold_pairs_per_s": round(cold, 1), "cold_images_per_s": round(2 * cold, 1)}
    if len(times) > 1:
        warm = items * (len(times) - 1) / sum(times[1:])
        out.update(cached_pairs_per_s=round(warm, 1), cached_images_per_s=round(2 * warm, 1))
    return out


def loader_figures(root: Path, cache_dir: Path, passes: int) -> dict:
    figures = {}
    for cache in ("memory", "none", "mmap"):
        cfg = DataConfig(root=str(root), load_size=LOAD_SIZE, crop_size=CROP_SIZE, cache=cache)
        open_s, times = timed_passes(cfg, passes if cache != "none" else 2, cache_dir)
        items = max(len(list((root / "trainA").iterdir())), len(list((root / "trainB").iterdir())))
        figures[cache] = rates(items, open_s, times)
        gc.collect()  # drop the stores so the next open starts cold
    # mmap again: a later run reuses the cache file built above, nothing is decoded
    cfg = DataConfig(root=str(root), load_size=LOAD_SIZE, crop_size=CROP_SIZE, cache="mmap")
    open_s, times = timed_passes(cfg, 1, cache_dir)
    figures["mmap_reused"] = rates(items, open_s, times)
    figures["memory_without_loader_pairs_per_s"] = round(direct_rate(root, passes), 1)
    return figures


def direct_rate(root: Path, passes: int) -> float:
    """Cached pairs/s of `dataset[i]` alone: the loader figures minus DataLoader's collation (torch.stack)."""
    dataset = UnpairedDataset(DataConfig(root=str(root), load_size=LOAD_SIZE, crop_size=CROP_SIZE), progress=False)
    [dataset[i] for i in range(len(dataset))]
    start = time.perf_counter()
    for epoch in range(passes):
        dataset.set_epoch(epoch)
        [dataset[i] for i in range(len(dataset))]
    return passes * len(dataset) / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64, help="training images per domain (default 64)")
    parser.add_argument("--image-size", type=int, default=320, help="side of the demo images (default 320)")
    parser.add_argument("--passes", type=int, default=4, help="passes per cache kind (default 4)")
    parser.add_argument("--quick", action="store_true", help="8 images per domain, 2 passes")
    args = parser.parse_args(argv)
    n, passes = (8, 2) if args.quick else (args.images, args.passes)
    search = search_rate(quick=args.quick)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        root = build_demo(tmp, image_size=args.image_size, n_train=n, n_test=1, progress=False)
        figures = {
            "images_per_domain": n,
            "image_size": args.image_size,
            "load_size": LOAD_SIZE,
            "crop_size": CROP_SIZE,
            "demo_build_s": round(time.perf_counter() - start, 2),
        }
        figures["loader"] = loader_figures(root, Path(tmp) / "cache", passes)
    figures["cached_over_cold"] = round(
        figures["loader"]["memory"]["cached_pairs_per_s"] / figures["loader"]["memory"]["cold_pairs_per_s"], 2
    )
    figures["search_step"] = search
    # a search iteration consumes one (a, b) pair at batch 1
    cached = min(figures["loader"][k]["cached_pairs_per_s"] for k in ("memory", "mmap"))
    figures["loader_over_search_step"] = round(cached / search["it_per_s"], 1)
    figures["targets"] = {"cached_loader>=5x_search_step": figures["loader_over_search_step"] >= 5}
    figures["command"] = command_line("data_loading", argv)
    return publish("data_loading_quick" if args.quick else "data_loading", figures)


def search_rate(quick: bool) -> dict:
    """OF search iterations/s at the crop size (32x32 with tiny networks when quick), one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    setting = Setting(image_size=32, n_cells=3, hidden_dim=4, ndf=8) if quick else Setting(image_size=CROP_SIZE)
    step = search_step(setting)
    times = interleaved_times({"OF": step.run}, "cpu", repeats=1 if quick else 2, desc="search step")["OF"]
    torch.set_num_threads(threads)
    return {
        "image_size": setting.image_size,
        "n_cells": setting.n_cells,
        "hidden_dim": setting.hidden_dim,
        "ndf": setting.ndf,
        "threads": 1,
        **{k: round(v, 4) for k, v in times.items()},
    }


if __name__ == "__main__":
    main()
