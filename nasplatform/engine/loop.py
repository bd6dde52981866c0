"""The epoch driver shared by search and retrain: batches, divergence guard, metrics, checkpoints, resume."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Protocol

import numpy as np
import torch
from tqdm.auto import tqdm

from nasplatform.engine.checkpoint import capture_rng_state, load_checkpoint, restore_rng_state, save_checkpoint
from nasplatform.engine.rundir import RunDirectory
from nasplatform.engine.tensorboard import EpochBoard
from nasplatform.engine.threads import use_threads

#: on_epoch(metrics_row, checkpoint_path or None): how the Ray Tune layer hears about each epoch.
EpochCallback = Callable[[dict, Optional[str]], None]


class Diverged(RuntimeError):
    """A loss became NaN or infinite."""


def epoch_batches(dataset, epoch: int, seed: int, batch_size: int, device: str, limit: Optional[int] = None) -> Iterator[dict]:
    """The items of one epoch in an order drawn from (seed, epoch) alone, so a resumed run sees the same data."""
    dataset.set_epoch(epoch)
    order = np.random.default_rng([seed, epoch]).permutation(len(dataset))
    if limit is not None:
        order = order[: limit * batch_size]
    for start in range(0, len(order), batch_size):
        items = [dataset[int(i)] for i in order[start : start + batch_size]]
        if len(items) == 1:  # batch 1 (CycleGAN's default): a view, not a threaded copy
            yield {key: items[0][key].unsqueeze(0).to(device) for key in ("a", "b")}
        else:
            yield {key: torch.stack([it[key] for it in items]).to(device) for key in ("a", "b")}


def endless_batches(dataset, epoch: int, seed: int, batch_size: int, device: str) -> Iterator[dict]:
    """Batches of `dataset` for as long as asked, re-drawing the order when one pass ends."""
    rounds = 0
    while True:
        yield from epoch_batches(dataset, epoch * 1000 + rounds, seed, batch_size, device)
        rounds += 1


class MeanMeter:
    """Running means of named losses; raises Diverged on the first non-finite value."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.count = 0

    def add(self, values: dict[str, float]) -> None:
        for key, value in values.items():
            if not math.isfinite(value):
                raise Diverged(f"{key} = {value} at iteration {self.count + 1}")
            self.sums[key] = self.sums.get(key, 0.0) + value
        self.count += 1

    def means(self) -> dict[str, float]:
        return {k: v / max(self.count, 1) for k, v in self.sums.items()}


class EpochJob(Protocol):
    """What a search or a retrain provides to the driver."""

    run: RunDirectory

    @property
    def total_epochs(self) -> int: ...
    def train_epoch(self, epoch: int, meter: MeanMeter, progress: bool) -> None: ...
    def epoch_metrics(self, epoch: int) -> dict: ...
    def after_epoch(self, epoch: int, write_samples: bool) -> None: ...
    def state_dict(self) -> dict: ...
    def load_state_dict(self, state: dict) -> None: ...


@dataclass
class RunOutcome:
    status: str  # "ok" or "diverged"
    epochs_done: int
    metrics: list[dict]
    message: str = ""


@dataclass
class Schedule:
    epochs: int
    checkpoint_every: int = 1
    sample_every: int = 1


def resume_point(job: EpochJob, run: RunDirectory) -> tuple[int, float, list[dict]]:
    """Restore from checkpoints/last.pt when present: (next epoch, elapsed seconds, metrics rows so far)."""
    if not run.last_checkpoint.exists():
        return 1, 0.0, []
    state = load_checkpoint(run.last_checkpoint)
    job.load_state_dict(state["job"])
    restore_rng_state(state["rng"])
    epoch = int(state["epoch"])
    return epoch + 1, float(state["elapsed_s"]), run.read_rows(run.metrics, up_to_epoch=epoch)


def drive(job: EpochJob, run: RunDirectory, schedule: Schedule, *, on_epoch: Optional[EpochCallback] = None,
          progress: bool = True) -> RunOutcome:
    """Train epochs until `schedule.epochs`, resuming from the last checkpoint of `run` if there is one."""
    start, elapsed, rows = resume_point(job, run)
    board = EpochBoard(run, start)
    try:
        return _drive_epochs(job, run, schedule, start, elapsed, rows, board, on_epoch, progress)
    finally:
        board.close()


def _drive_epochs(job: EpochJob, run: RunDirectory, schedule: Schedule, start: int, elapsed: float, rows: list[dict],
                  board: EpochBoard, on_epoch: Optional[EpochCallback], progress: bool) -> RunOutcome:
    for epoch in range(start, schedule.epochs + 1):
        began = time.perf_counter()
        meter = MeanMeter()
        try:
            job.train_epoch(epoch, meter, progress)
        except Diverged as exc:
            rows.append({"epoch": epoch, "iterations": meter.count, "status": "diverged", "message": str(exc)})
            run.write_rows(run.metrics, rows)
            return RunOutcome("diverged", epoch - 1, rows, f"epoch {epoch}: {exc}")
        wall = time.perf_counter() - began
        elapsed += wall
        rows.append({"epoch": epoch, "iterations": meter.count, "wall_time_s": wall, "elapsed_s": elapsed,
                     **meter.means(), **job.epoch_metrics(epoch), "status": "ok"})
        last = epoch == schedule.epochs
        job.after_epoch(epoch, write_samples=last or epoch % schedule.sample_every == 0)
        run.write_rows(run.metrics, rows)
        board.log_epoch(rows[-1], getattr(job, "alpha_rows", []))
        checkpoint = None
        if last or epoch % schedule.checkpoint_every == 0:
            state = {"epoch": epoch, "elapsed_s": elapsed, "job": job.state_dict(), "rng": capture_rng_state()}
            save_checkpoint(run.last_checkpoint, state)
            checkpoint = str(run.last_checkpoint)
        if on_epoch is not None:
            on_epoch(rows[-1], checkpoint)
    return RunOutcome("ok", schedule.epochs, rows)


def run_job(make_job: Callable[[Any, RunDirectory], EpochJob], cfg, run_dir: str | Path, *,
            on_epoch: Optional[EpochCallback] = None, progress: bool = True) -> tuple[EpochJob, RunOutcome]:
    """Bind `cfg` to the run directory, build the job there and drive it (from its last checkpoint, if any)."""
    run = RunDirectory(run_dir)
    run.bind_config(cfg)
    if cfg.threads is not None:  # None: the caller's setting stands (the CLI's default, Tune's CPUs, a test's 1)
        use_threads(cfg.threads)
    job = make_job(cfg, run.prepare())
    outcome = drive(job, run, Schedule(job.total_epochs, cfg.checkpoint_every, cfg.sample_every),
                    on_epoch=on_epoch, progress=progress)
    return job, outcome


def progress_bar(iterable, total: int, desc: str, enabled: bool):
    return tqdm(iterable, total=total, desc=desc, leave=False, disable=not enabled, dynamic_ncols=True)
