"""The epoch driver shared by search and retrain: batches, divergence guard, metrics, checkpoints, resume."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from tqdm.auto import tqdm

from nasplatform.engine.checkpoint import (
    CheckpointError,
    capture_rng_state,
    load_checkpoint,
    restore_rng_state,
    save_checkpoint,
)
from nasplatform.engine.config import (
    ConfigError,
    check_device_available,
    flatten,
    migrate_keys,
    to_dict,
    with_absolute_paths,
)
from nasplatform.engine.lock import folder_lock
from nasplatform.engine.rundir import RunDirectory, RunFileError
from nasplatform.engine.tensorboard import EpochBoard
from nasplatform.engine.threads import use_threads
from nasplatform.interrupt import checked

#: on_epoch(metrics_row, checkpoint_path or None): how the Ray Tune layer hears about each epoch.
EpochCallback = Callable[[dict, str | None], None]


class Diverged(RuntimeError):
    """A loss became NaN or infinite."""


def epoch_batches(
    dataset, epoch: int, seed: int, batch_size: int, device: str, limit: int | None = None
) -> Iterator[dict]:
    """The items of one epoch in an order drawn from (seed, epoch) alone, so a resumed run sees the same data.

    A batch holds images "a", "b" on `device` and, when the dataset reports them, "a_index"/"b_index" (CPU int64):
    which training images fed the step, so tests can check that each step drew from its own split.
    """
    dataset.set_epoch(epoch)
    order = np.random.default_rng([seed, epoch]).permutation(len(dataset))
    if limit is not None:
        order = order[: limit * batch_size]
    for start in range(0, len(order), batch_size):
        items = [dataset[int(i)] for i in order[start : start + batch_size]]
        if len(items) == 1:  # batch 1 (CycleGAN's default): a view, not a threaded copy
            batch = {key: items[0][key].unsqueeze(0).to(device) for key in ("a", "b")}
        else:
            batch = {key: torch.stack([it[key] for it in items]).to(device) for key in ("a", "b")}
        batch.update(
            {key: torch.tensor([it[key] for it in items]) for key in ("a_index", "b_index") if key in items[0]}
        )
        yield batch


def iterations_per_epoch(n_items: int, batch_size: int, limit: int | None = None) -> int:
    """How many batches `epoch_batches` yields for a dataset of `n_items` (the progress bar's total)."""
    batches = -(-n_items // batch_size)
    return batches if limit is None else min(batches, limit)


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
    cfg: Any

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
        run.recover(None)
        return 1, 0.0, []
    state = load_checkpoint(run.last_checkpoint)
    check_config_unchanged(state, job.cfg, run)
    try:
        run.recover(int(state["epoch"]))  # before the job reads alpha_history.parquet
        job.load_state_dict(state["job"])
        restore_rng_state(state["rng"])
        epoch = int(state["epoch"])
        elapsed = float(state["elapsed_s"])
    except RunFileError:
        raise
    except (KeyError, IndexError, TypeError, ValueError, RuntimeError) as exc:  # a file this platform did not write
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        kind = type(job).__name__.removesuffix("Job").lower()
        raise CheckpointError(
            f"checkpoint {run.last_checkpoint} does not hold the state of this {kind} run "
            f"({type(exc).__name__}: {first}); it was written by something else, or for other "
            "settings"
        ) from None
    return epoch + 1, elapsed, run.read_rows(run.metrics, up_to_epoch=epoch)


#: Keys a resumed run may change: where the data is (relocated with --data) and how many threads, not what it is.
RELOCATABLE = ("data.root", "data.cache_dir", "threads")


def check_config_unchanged(state: dict, cfg, run: RunDirectory) -> None:
    """Refuse to continue a checkpoint under a config.yaml edited since it was written, naming each key."""
    saved = state.get("config")
    if not isinstance(saved, dict):  # checkpoints from before the config was recorded in them
        return
    then, now = flatten(migrate_keys(type(cfg), saved)), flatten(to_dict(cfg))
    # a retrain's genotypes file may sit elsewhere on a retry (a Tune trial on another worker): its name counts
    for flat in (then, now):
        if isinstance(flat.get("genotypes"), str):
            flat["genotypes"] = Path(flat["genotypes"]).name
    changed = sorted(k for k in then.keys() | now.keys() if k not in RELOCATABLE and then.get(k) != now.get(k))
    if changed:
        what = ", ".join(f"{k} ({then.get(k)!r} -> {now.get(k)!r})" for k in changed)
        raise ConfigError(
            "",
            f"{run.config} was changed after the checkpoint of epoch {state.get('epoch')} "
            f"was written: {what}; put the old values back to continue this run, or start a new run "
            "with --out NEW_DIR",
        )


def drive(
    job: EpochJob,
    run: RunDirectory,
    schedule: Schedule,
    *,
    on_epoch: EpochCallback | None = None,
    progress: bool = True,
) -> RunOutcome:
    """Train epochs until `schedule.epochs`, resuming from the last checkpoint of `run` if there is one."""
    start, elapsed, rows = resume_point(job, run)
    board = EpochBoard(run, start)
    try:
        return _drive_epochs(job, run, schedule, start, elapsed, rows, board, on_epoch, progress)
    finally:
        board.close()


def _drive_epochs(
    job: EpochJob,
    run: RunDirectory,
    schedule: Schedule,
    start: int,
    elapsed: float,
    rows: list[dict],
    board: EpochBoard,
    on_epoch: EpochCallback | None,
    progress: bool,
) -> RunOutcome:
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
        rows.append(
            {
                "epoch": epoch,
                "iterations": meter.count,
                "wall_time_s": wall,
                "elapsed_s": elapsed,
                **meter.means(),
                **job.epoch_metrics(epoch),
                "status": "ok",
            }
        )
        last = epoch == schedule.epochs
        checkpoint = None
        due = last or epoch % schedule.checkpoint_every == 0
        if due:  # the epoch's files are staged and put in place only once its checkpoint is (recover() finishes)
            run.stage(epoch)
        job.after_epoch(epoch, write_samples=last or epoch % schedule.sample_every == 0)
        run.write_rows(run.metrics, rows)
        if due:
            state = {
                "epoch": epoch,
                "elapsed_s": elapsed,
                "job": job.state_dict(),
                "rng": capture_rng_state(),
                "config": to_dict(job.cfg),
            }
            save_checkpoint(run.last_checkpoint, state)
            run.commit()
            checkpoint = str(run.last_checkpoint)
        # after the commit: at a checkpoint epoch genotypes.json is only now this epoch's (staged until then)
        board.log_epoch(rows[-1], getattr(job, "alpha_rows", []))
        if on_epoch is not None:
            on_epoch(rows[-1], checkpoint)
    return RunOutcome("ok", schedule.epochs, rows)


def run_job(
    make_job: Callable[[Any, RunDirectory], EpochJob],
    cfg,
    run_dir: str | Path,
    *,
    on_epoch: EpochCallback | None = None,
    progress: bool = True,
    resuming: bool = False,
) -> tuple[EpochJob, RunOutcome]:
    """Bind `cfg` to the run directory, build the job there and drive it (from its last checkpoint, if any),
    holding the folder's lock throughout (engine/lock.py): a second run into the same folder is refused."""
    cfg = with_absolute_paths(cfg)
    check_device_available(cfg.device)
    run = RunDirectory(run_dir)
    with folder_lock(run.root):
        run.bind_config(cfg, resuming=resuming)
        if cfg.threads is not None:  # None: the caller's setting stands (the CLI's default, Tune's CPUs, a test's 1)
            use_threads(cfg.threads)
        job = make_job(cfg, run.prepare())
        outcome = drive(
            job,
            run,
            Schedule(job.total_epochs, cfg.checkpoint_every, cfg.sample_every),
            on_epoch=on_epoch,
            progress=progress,
        )
    return job, outcome


def progress_bar(iterable, total: int, desc: str, enabled: bool):
    """The batches of an epoch with a progress bar; a Ctrl-C whose KeyboardInterrupt got lost stops at the next."""
    return tqdm(checked(iterable), total=total, desc=desc, leave=False, disable=not enabled, dynamic_ncols=True)


def seed_everything(seed: int) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
