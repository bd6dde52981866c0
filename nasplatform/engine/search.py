"""Architecture search: four supernets trained by one of the OF/TF/TH/THS strategies on unpaired data."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nasplatform.data.dataset import UnpairedDataset
from nasplatform.engine.accel import configure_backends, in_memory_format, prepare_networks
from nasplatform.engine.config import SearchConfig
from nasplatform.engine.loop import (
    EpochCallback,
    MeanMeter,
    RunOutcome,
    endless_batches,
    epoch_batches,
    iterations_per_epoch,
    progress_bar,
    run_job,
    seed_everything,
)
from nasplatform.engine.rundir import RunDirectory
from nasplatform.engine.samples import fixed_samples, save_samples
from nasplatform.engine.strategies import FULL, HALF1, HALF2, Split, build_strategy
from nasplatform.nets.build import build_supernets, genotypes_to_json
from nasplatform.nets.supernet import normalised_entropy
from nasplatform.ops.mixed import MixedOp


def split_halves(n: int, seed: int, domain: str) -> tuple[list[int], list[int]]:
    """A seeded random split of one domain's n images into two halves (TH/THS)."""
    order = np.random.default_rng([seed, ord(domain)]).permutation(n).tolist()
    return sorted(order[: n // 2]), sorted(order[n // 2 :])


class SearchJob:
    """Everything a search run holds: supernets, strategy (optimizers, pools), data splits and histories."""

    def __init__(self, cfg: SearchConfig, run: RunDirectory):
        self.cfg, self.run = cfg, run
        seed_everything(cfg.seed)
        configure_backends(cfg.accel, cfg.device)
        # before the strategy builds its optimizers: preparing keeps parameter identity, but moves them
        self.nets = prepare_networks(
            build_supernets(cfg.n_cells, cfg.hidden_dim, cfg.ndf, cfg.mixed_op_mode), cfg.accel, cfg.device
        )
        self.strategy = build_strategy(self.nets, cfg)
        self.alpha_lr = self.strategy.alpha_lr()  # this epoch's, once train_epoch has set it
        self.data = self._datasets()
        self.samples = fixed_samples(cfg)
        self.alpha_rows: list[dict] = []
        self._record_alphas(0)

    @property
    def total_epochs(self) -> int:
        return self.cfg.epochs

    def _datasets(self) -> dict[Split, UnpairedDataset]:
        """One dataset per split the strategy declares; the halves are drawn (and saved) only when one is declared."""
        cfg = self.cfg
        full = UnpairedDataset(cfg.data, "train", seed=cfg.seed)
        subsets: dict[str, dict] = {}
        if any(split.part != FULL for split in self.strategy.splits):
            halves = {d: split_halves(full.domain_size(d), cfg.seed, d) for d in ("A", "B")}
            self.run.write_json(self.run.splits, {d: {HALF1: h[0], HALF2: h[1]} for d, h in halves.items()})
            subsets = {
                part: {"indices_a": halves["A"][k], "indices_b": halves["B"][k]}
                for k, part in enumerate((HALF1, HALF2))
            }
        return {
            split: full
            if split == Split(FULL)
            else UnpairedDataset(cfg.data, "train", seed=cfg.seed + split.seed_offset, **subsets.get(split.part, {}))
            for split in self.strategy.splits
        }

    def _dataset(self, split: Split) -> UnpairedDataset:
        try:
            return self.data[split]
        except KeyError:
            raise KeyError(
                f"scheme {self.cfg.scheme}: the strategy drew from {split}, which its `splits` "
                f"{self.strategy.splits} do not declare"
            ) from None

    def train_epoch(self, epoch: int, meter: MeanMeter, progress: bool) -> None:
        cfg = self.cfg
        self._set_gumbel(epoch)
        self.alpha_lr = self.strategy.alpha_lr() * alpha_lr_factor(epoch, cfg.epochs, cfg.alpha_lr_decay_epochs)
        self.strategy.set_alpha_lr(self.alpha_lr)
        w_role, alpha_role = self.strategy.data_roles(epoch)
        w_data = self._dataset(w_role)
        total = iterations_per_epoch(len(w_data), cfg.batch_size, cfg.max_iters_per_epoch)
        batches = epoch_batches(w_data, epoch, cfg.seed, cfg.batch_size, cfg.device, cfg.max_iters_per_epoch)
        alpha_batches = (
            endless_batches(self._dataset(alpha_role), epoch, cfg.seed + 1, cfg.batch_size, cfg.device)
            if alpha_role is not None
            else None
        )
        # metrics name the data part (full, half1, half2) that fed each step
        self.roles = (w_role.part, alpha_role.part if alpha_role is not None else None)
        self.nets.train(True)
        bar = progress_bar(batches, total, f"search {cfg.scheme} epoch {epoch}/{cfg.epochs}", progress)
        for batch in bar:
            alpha_batch = next(alpha_batches) if alpha_batches is not None else None
            losses = self.strategy.step(in_memory_format(batch, cfg), in_memory_format(alpha_batch, cfg))
            meter.add(losses)
            bar.set_postfix(g=f"{losses['loss_g']:.3f}", d_a=f"{losses['loss_d_a']:.3f}", refresh=False)
        n_decide = decisions_due(epoch, cfg.decide_from_epoch, cfg.decide_by_epoch, len(undecided_ops(self.nets)))
        decide_mixed_ops(self.nets, n_decide)

    def _set_gumbel(self, epoch: int) -> float | None:
        cfg = self.cfg
        tau = None
        if cfg.gumbel:
            frac = (epoch - 1) / max(cfg.epochs - 1, 1)
            tau = cfg.gumbel_tau_start * (cfg.gumbel_tau_end / cfg.gumbel_tau_start) ** frac
        for _, net in self.nets.items():
            net.set_gumbel_tau(tau)
        self.tau = tau
        return tau

    def epoch_metrics(self, epoch: int) -> dict:
        genotypes = self.strategy.get_final_architecture()
        row = {f"genotype_{name}": g.to_json() for name, g in genotypes.items()}
        row.update(alpha_entropy(self.nets))
        row["genotype_stable_since"] = genotype_stable_since(self.alpha_rows, current_choices(self.nets), epoch)
        row["decided_ops"] = len(decisions(self.nets))
        row.update(
            {
                "lr": self.cfg.optim.lr,
                "alpha_lr": self.alpha_lr,
                "w_data": self.roles[0],
                "alpha_data": self.roles[1] or "",
                "gumbel_tau": float("nan") if self.tau is None else self.tau,
            }
        )
        return row

    def after_epoch(self, epoch: int, write_samples: bool) -> None:
        self._record_alphas(epoch)
        self.run.write_rows(self.run.alpha_history, self.alpha_rows)
        self.run.write_text(self.run.genotypes, genotypes_to_json(self.strategy.get_final_architecture()))
        if write_samples:
            save_samples(self.nets, *self.samples, self.run.samples, epoch)

    def _record_alphas(self, epoch: int) -> None:
        for name, net in self.nets.items():
            self.alpha_rows += [{"epoch": epoch, "network": name, **row} for row in net.mixing_table()]

    def state_dict(self) -> dict:
        return {
            "networks": self.nets.state_dict(),
            "strategy": self.strategy.state_dict(),
            "alpha_rows_epochs": len(self.alpha_rows),
            "decisions": decisions(self.nets),
        }

    def load_state_dict(self, state: dict) -> None:
        self.nets.load_state_dict(state["networks"])
        self.strategy.load_state_dict(state["strategy"])
        for name, slot_id, op_name in state.get("decisions", []):  # checkpoints from before greedy decisions: none
            net = getattr(self.nets, name)
            net.get_submodule(slot_path(net, slot_id)).decide(op_name)
        saved = self.run.read_rows(self.run.alpha_history)
        self.alpha_rows = saved[: int(state["alpha_rows_epochs"])]


def alpha_lr_factor(epoch: int, epochs: int, decay_epochs: int) -> float:
    """The alphas' lr in `epoch` (1-based) over its base: 1 until the last `decay_epochs` epochs, then falling
    linearly by CycleGAN's rule, 1 - (epoch - (epochs - decay_epochs)) / (decay_epochs + 1), to
    1 / (decay_epochs + 1) in the last epoch. Set from the epoch alone, so a resumed search sets the same lr."""
    return 1.0 - max(0, epoch - (epochs - decay_epochs)) / (decay_epochs + 1)


def undecided_ops(nets) -> list[tuple[str, str, MixedOp]]:
    """(network, mixed op id, op) of every mixed op of the four networks that still mixes, in network and slot
    order."""
    return [(name, slot.id, op) for name, net in nets.items() for slot, op in net.mixed_ops() if op.decided is None]


def decisions(nets) -> list[tuple[str, str, str]]:
    """(network, mixed op id, candidate) of every decided mixed op (the search checkpoint's `decisions`)."""
    return [(name, slot.id, op.decided) for name, net in nets.items() for slot, op in net.mixed_ops() if op.decided]


def slot_path(net, slot_id: str) -> str:
    """Module path of mixed op `slot_id` in supernet `net` (a checkpoint names decided ops by id)."""
    for slot in net.slots:
        if slot.id == slot_id:
            return slot.path
    raise KeyError(f"no mixed op {slot_id!r} in the {net.kind} supernet (its ids: {[s.id for s in net.slots]})")


def decisions_due(epoch: int, first: int, last: int, undecided: int) -> int:
    """How many mixed ops to decide at the end of `epoch` so that the `undecided` ones are spread evenly over the
    decision epochs first..last (SearchConfig.decide_from_epoch/decide_by_epoch; 0 = none), all gone after `last`."""
    if not first or not first <= epoch <= last:
        return 0
    return math.ceil(undecided / (last - epoch + 1))


def decide_mixed_ops(nets, n: int) -> list[tuple[str, str, str]]:
    """SGAS-style greedy decision: fix the `n` still-mixing ops whose softmax(alpha) is most certain (lowest
    normalised entropy; earlier network and slot first on ties) to their argmax candidate. Returns (network,
    mixed op id, candidate) of each, in decision order."""
    ranked = sorted(undecided_ops(nets), key=lambda item: normalised_entropy(item[2].alpha))
    decided = []
    for name, slot_id, op in ranked[:n]:
        op.decide(op.derive())
        decided.append((name, slot_id, op.decided))
    return decided


def alpha_entropy(nets) -> dict[str, float]:
    """Decisiveness of the search (metrics.parquet columns): `alpha_entropy`, the mean normalised entropy of
    softmax(alpha) over every mixed op of the four networks (1 = uniform, 0 = one-hot), and the same mean per
    network as `alpha_entropy_<g_a|g_b|d_a|d_b>`."""
    per_net = {name: net.alpha_entropies() for name, net in nets.items()}
    pooled = [h for values in per_net.values() for h in values]
    row = {"alpha_entropy": float(np.mean(pooled))}
    row.update({f"alpha_entropy_{name}": float(np.mean(values)) for name, values in per_net.items()})
    return row


def current_choices(nets) -> dict[tuple[str, str], str]:
    """(network, mixed op) -> the argmax candidate now: equal choices <=> equal derived genotypes."""
    return {(name, slot.id): op.derive() for name, net in nets.items() for slot, op in net.mixed_ops()}


def recorded_choices(alpha_rows: list[dict]) -> dict[int, dict[tuple[str, str], str]]:
    """The argmax candidate of every mixed op at each recorded epoch of alpha_history (first maximum wins, like
    torch.argmax in `MixedOp.derive`)."""
    best: dict[int, dict[tuple[str, str], tuple[float, str]]] = {}
    for row in alpha_rows:
        ops = best.setdefault(int(row["epoch"]), {})
        key = (row["network"], row["mixed_op"])
        if key not in ops or row["alpha"] > ops[key][0]:
            ops[key] = (row["alpha"], row["op"])
    return {epoch: {key: op for key, (_, op) in ops.items()} for epoch, ops in best.items()}


def genotype_stable_since(alpha_rows: list[dict], choices: dict, epoch: int) -> int:
    """The first epoch from which the derived genotypes of all four networks equal those of `epoch` (whose
    `choices` are given; earlier epochs come from alpha_history rows, epoch 0 = the initial alphas)."""
    history = recorded_choices(alpha_rows)
    since = epoch
    for past in sorted((e for e in history if e < epoch), reverse=True):
        if history[past] != choices:
            break
        since = past
    return since


@dataclass
class SearchResult:
    run_dir: Path
    outcome: RunOutcome
    genotypes: dict


def run_search(
    cfg: SearchConfig,
    run_dir: str | Path,
    *,
    on_epoch: EpochCallback | None = None,
    progress: bool = True,
    resuming: bool = False,
) -> SearchResult:
    """Search (or continue searching) in `run_dir`; a checkpoint there is resumed from.

    `resuming`: `cfg` is the one saved there (loop.run_job)."""
    job, outcome = run_job(SearchJob, cfg, run_dir, on_epoch=on_epoch, progress=progress, resuming=resuming)
    return SearchResult(job.run.root, outcome, job.strategy.get_final_architecture())


def resume_search(
    run_dir: str | Path, *, on_epoch: EpochCallback | None = None, progress: bool = True, threads: int | None = None
) -> SearchResult:
    """Continue the run in `run_dir` with the configuration saved there (and `threads` torch threads, if given)."""
    cfg = RunDirectory(run_dir).saved_config(SearchConfig, "search")
    cfg = cfg if threads is None else dataclasses.replace(cfg, threads=threads)
    return run_search(cfg, run_dir, on_epoch=on_epoch, progress=progress, resuming=True)
