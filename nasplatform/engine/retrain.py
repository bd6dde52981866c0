"""Retraining of discrete architectures with CycleGAN's schedule (n_epochs constant + n_epochs_decay linear)."""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from nasplatform.data.dataset import UnpairedDataset
from nasplatform.engine.accel import autocast, configure_backends, in_memory_format, prepare_networks
from nasplatform.engine.checkpoint import save_checkpoint
from nasplatform.engine.config import RetrainConfig
from nasplatform.engine.cyclegan_step import cyclegan_step
from nasplatform.engine.loop import (
    EpochCallback,
    MeanMeter,
    RunOutcome,
    epoch_batches,
    iterations_per_epoch,
    progress_bar,
    run_job,
    seed_everything,
)
from nasplatform.engine.losses import GANLoss
from nasplatform.engine.pool import ImagePool
from nasplatform.engine.rundir import RunDirectory
from nasplatform.engine.samples import fixed_samples, save_samples
from nasplatform.engine.validation import ValidationSelector, due, validation_files
from nasplatform.nets.build import build_discrete, genotypes_to_json, load_genotypes


def linear_decay(n_epochs: int, n_epochs_decay: int):
    """Official CycleGAN 'linear' policy: lr constant for n_epochs, then linearly to 0 over n_epochs_decay."""
    return lambda epoch: 1.0 - max(0, epoch + 1 - n_epochs) / float(n_epochs_decay + 1)


def hold_out(n: int, fraction: float, seed: int, domain: str) -> tuple[list[int], list[int]]:
    """(train indices, validation indices): a seeded random `fraction` of one domain held out from training."""
    order = np.random.default_rng([seed, ord(domain), 17]).permutation(n).tolist()
    n_val = int(round(n * fraction))
    return sorted(order[n_val:]), sorted(order[:n_val])


class RetrainJob:
    """Discrete G_A, G_B (hidden dims H_A, H_B) and D_A, D_B trained like CycleGAN."""

    def __init__(self, cfg: RetrainConfig, run: RunDirectory):
        self.cfg, self.run = cfg, run
        seed_everything(cfg.seed)
        self.genotypes = load_genotypes(cfg.genotypes)
        self.hidden_dims = (cfg.hidden_dim_a, cfg.hidden_dim_b if cfg.hidden_dim_b is not None else cfg.hidden_dim_a)
        configure_backends(cfg.accel, cfg.device)
        self.nets = prepare_networks(
            build_discrete(self.genotypes, *self.hidden_dims, cfg.ndf, cfg.discriminator), cfg.accel, cfg.device
        )
        o = cfg.optim
        self.opt_g = torch.optim.Adam(
            [*self.nets.g_a.parameters(), *self.nets.g_b.parameters()], lr=o.lr, betas=(o.beta1, o.beta2)
        )
        self.opt_d = torch.optim.Adam(
            [*self.nets.d_a.parameters(), *self.nets.d_b.parameters()], lr=o.lr, betas=(o.beta1, o.beta2)
        )
        decay = linear_decay(cfg.n_epochs, cfg.n_epochs_decay)
        self.schedulers = [torch.optim.lr_scheduler.LambdaLR(opt, decay) for opt in (self.opt_g, self.opt_d)]
        self.pools = (ImagePool(cfg.loss.pool_size, seed=cfg.seed), ImagePool(cfg.loss.pool_size, seed=cfg.seed + 1))
        self.gan = GANLoss(cfg.loss.gan_mode)
        self.selector = None
        self.data = self._dataset()
        self.samples = fixed_samples(cfg)
        # cfg.genotypes is a name or a path outside the run: the run keeps its own copy of what it trains
        run.write_text(run.genotypes, genotypes_to_json(self.genotypes))

    def _dataset(self) -> UnpairedDataset:
        cfg = self.cfg
        if cfg.val_fraction <= 0:
            return UnpairedDataset(cfg.data, "train", seed=cfg.seed)
        probe = UnpairedDataset(cfg.data, "train", seed=cfg.seed)
        split = {d: hold_out(probe.domain_size(d), cfg.val_fraction, cfg.seed, d) for d in ("A", "B")}
        self.run.write_json(self.run.splits, {d: {"train": s[0], "val": s[1]} for d, s in split.items()})
        files = validation_files(probe.paths_a, probe.paths_b, {d: s[1] for d, s in split.items()})
        self.selector = ValidationSelector(
            self.run.root, self.run.checkpoints / "best_val.pt", files, cfg.data.crop_size, cfg.device
        )
        return UnpairedDataset(cfg.data, "train", seed=cfg.seed, indices_a=split["A"][0], indices_b=split["B"][0])

    @property
    def total_epochs(self) -> int:
        return self.cfg.epochs

    def train_epoch(self, epoch: int, meter: MeanMeter, progress: bool) -> None:
        cfg = self.cfg
        total = iterations_per_epoch(len(self.data), cfg.batch_size, cfg.max_iters_per_epoch)
        batches = epoch_batches(self.data, epoch, cfg.seed, cfg.batch_size, cfg.device, cfg.max_iters_per_epoch)
        self.nets.train(True)
        bar = progress_bar(batches, total, f"retrain epoch {epoch}/{self.total_epochs}", progress)
        for batch in bar:
            batch = in_memory_format(batch, cfg)
            losses = cyclegan_step(
                self.nets,
                self.opt_g,
                self.opt_d,
                self.pools,
                batch["a"],
                batch["b"],
                self.gan,
                cfg.loss,
                functools.partial(autocast, cfg.accel, cfg.device),
            )
            meter.add(losses)
            bar.set_postfix(g=f"{losses['loss_g']:.3f}", refresh=False)
        self.lr = self.opt_g.param_groups[0]["lr"]
        for scheduler in self.schedulers:
            scheduler.step()

    def epoch_metrics(self, epoch: int) -> dict:
        row = {"lr": self.lr}
        if self.selector is not None and due(epoch, self.total_epochs, self.cfg.val_every):
            row.update(self.selector(epoch, self.nets))
        return row

    def after_epoch(self, epoch: int, write_samples: bool) -> None:
        if write_samples:
            save_samples(self.nets, *self.samples, self.run.samples, epoch)
        if epoch == self.total_epochs:
            self.write_final()

    def write_final(self) -> None:
        """final/g_a.pt and final/g_b.pt: the generators' state dicts, with meta.json to rebuild them."""
        self.run.final.mkdir(parents=True, exist_ok=True)
        for name in ("g_a", "g_b"):
            save_checkpoint(self.run.final / f"{name}.pt", getattr(self.nets, name).state_dict())
        meta = {
            "genotypes": {k: g.to_dict() for k, g in self.genotypes.items() if k in ("g_a", "g_b")},
            "hidden_dim_a": self.hidden_dims[0],
            "hidden_dim_b": self.hidden_dims[1],
            "image_size": self.cfg.data.crop_size,
        }
        self.run.write_json(self.run.final / "meta.json", meta)

    def state_dict(self) -> dict:
        return {
            "networks": self.nets.state_dict(),
            "optimizers": {"g": self.opt_g.state_dict(), "d": self.opt_d.state_dict()},
            "schedulers": [s.state_dict() for s in self.schedulers],
            "pools": [p.state_dict() for p in self.pools],
        }

    def load_state_dict(self, state: dict) -> None:
        self.nets.load_state_dict(state["networks"])
        self.opt_g.load_state_dict(state["optimizers"]["g"])
        self.opt_d.load_state_dict(state["optimizers"]["d"])
        for scheduler, s in zip(self.schedulers, state["schedulers"]):
            scheduler.load_state_dict(s)
        for pool, s in zip(self.pools, state["pools"]):
            pool.load_state_dict(s)


@dataclass
class RetrainResult:
    run_dir: Path
    outcome: RunOutcome


def run_retrain(
    cfg: RetrainConfig,
    run_dir: str | Path,
    *,
    on_epoch: EpochCallback | None = None,
    progress: bool = True,
    resuming: bool = False,
) -> RetrainResult:
    """Retrain (or continue retraining) in `run_dir`; `resuming`: `cfg` is the one saved there (loop.run_job)."""
    job, outcome = run_job(RetrainJob, cfg, run_dir, on_epoch=on_epoch, progress=progress, resuming=resuming)
    return RetrainResult(job.run.root, outcome)


def resume_retrain(
    run_dir: str | Path, *, on_epoch: EpochCallback | None = None, progress: bool = True, threads: int | None = None
) -> RetrainResult:
    """Continue the run in `run_dir` with the configuration saved there (and `threads` torch threads, if given)."""
    cfg = RunDirectory(run_dir).saved_config(RetrainConfig, "retrain")
    cfg = cfg if threads is None else dataclasses.replace(cfg, threads=threads)
    return run_retrain(cfg, run_dir, on_epoch=on_epoch, progress=progress, resuming=True)
