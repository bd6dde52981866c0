"""Search strategies behind one small interface (NASLib-style), by scheme name in `STRATEGIES`: OF, TF, TH and THS
(paper §3.3); each declares the data splits it draws from."""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import torch

from nasplatform.engine.accel import autocast
from nasplatform.engine.config import SearchConfig
from nasplatform.engine.cyclegan_step import (
    cyclegan_step,
    discriminator_losses,
    generator_loss,
    translate_both,
)
from nasplatform.engine.losses import GANLoss
from nasplatform.engine.pool import ImagePool
from nasplatform.nets.build import CycleGANNetworks, Genotypes

#: Parts of the training data a split can cover: all of it, or one of the seeded halves of A and B.
FULL, HALF1, HALF2 = "full", "half1", "half2"
PARTS = (FULL, HALF1, HALF2)


@dataclass(frozen=True)
class Split:
    """Training data a step draws from: `part` (FULL, HALF1 or HALF2; the halves are drawn once per run and saved
    in splits.json) and `seed_offset`, added to the run's seed for the split's random A-B pairings, crops and flips,
    so that two splits of one part (TF's weight and alpha data) are distinct views of it."""

    part: str
    seed_offset: int = 0

    def __post_init__(self) -> None:
        if self.part not in PARTS:
            raise ValueError(f"split part must be one of {PARTS}, got {self.part!r}")
        if self.seed_offset < 0:
            raise ValueError(f"split seed_offset must be non-negative, got {self.seed_offset}")


#: The built-in schemes' splits; their seed offsets are those of the first runs, so their data draws are unchanged.
FULL_SPLIT = Split(FULL)
FULL_REDRAWN = Split(FULL, seed_offset=1)
HALF1_SPLIT = Split(HALF1, seed_offset=1)
HALF2_SPLIT = Split(HALF2, seed_offset=2)


class SearchStrategy(ABC):
    """`step` runs one search iteration; `get_final_architecture` derives the four genotypes (argmax alpha).

    `splits` declares every split the strategy draws from (the search builds exactly these);
    `data_roles(epoch)` says which of them feeds the weight step (w) and which the alpha step (None: no alpha step).
    """

    name: ClassVar[str]
    splits: ClassVar[tuple[Split, ...]]

    def __init__(self, nets: CycleGANNetworks, cfg: SearchConfig):
        self.nets, self.cfg = nets, cfg
        self.gan = GANLoss(cfg.loss.gan_mode)
        self.pools = (ImagePool(cfg.loss.pool_size, seed=cfg.seed), ImagePool(cfg.loss.pool_size, seed=cfg.seed + 1))
        self.autocast = functools.partial(autocast, cfg.accel, cfg.device)

    @abstractmethod
    def data_roles(self, epoch: int) -> tuple[Split, Split | None]: ...

    @abstractmethod
    def step(self, w_batch: dict, alpha_batch: dict | None) -> dict[str, float]: ...

    @abstractmethod
    def optimizers(self) -> dict[str, torch.optim.Optimizer]: ...

    @abstractmethod
    def alpha_lr(self) -> float:
        """The learning rate the alphas are stepped with (before any decay, SearchConfig.alpha_lr_decay_epochs)."""

    @abstractmethod
    def alpha_param_groups(self) -> list[dict]:
        """The optimizer parameter groups that hold the alphas (their lr is set each epoch by the search)."""

    def set_alpha_lr(self, lr: float) -> None:
        for group in self.alpha_param_groups():
            group["lr"] = lr

    def get_final_architecture(self) -> Genotypes:
        return {name: net.derive() for name, net in self.nets.items()}

    def state_dict(self) -> dict:
        """Checkpointables: every optimizer and both image pools (networks are saved by the caller)."""
        return {
            "optimizers": {k: opt.state_dict() for k, opt in self.optimizers().items()},
            "pools": [pool.state_dict() for pool in self.pools],
        }

    def load_state_dict(self, state: dict) -> None:
        for key, opt in self.optimizers().items():
            opt.load_state_dict(state["optimizers"][key])
        for pool, pool_state in zip(self.pools, state["pools"]):
            pool.load_state_dict(pool_state)

    def _weight_step(self, batch: dict) -> dict[str, float]:
        """One CycleGAN iteration on the weight data through this strategy's G and D optimizers."""
        return cyclegan_step(
            self.nets,
            self.opt_g,
            self.opt_d,
            self.pools,
            batch["a"],
            batch["b"],
            self.gan,
            self.cfg.loss,
            self.autocast,
        )

    def _adam(self, params, arch: bool = False) -> torch.optim.Adam:
        o = self.cfg.optim
        if arch:
            return torch.optim.Adam(
                params, lr=o.arch_lr, betas=(o.arch_beta1, o.arch_beta2), weight_decay=o.arch_weight_decay
            )
        return torch.optim.Adam(params, lr=o.lr, betas=(o.beta1, o.beta2))


#: scheme name -> strategy class, the one list of schemes (configs, specs, the CLI and benchmarks read its keys);
#: `register_strategy` adds to it.
STRATEGIES: dict[str, type[SearchStrategy]] = {}


def register_strategy(cls: type[SearchStrategy]) -> type[SearchStrategy]:
    """Make `cls` the strategy of the scheme `cls.name` (usable as a class decorator); refuses a taken name."""
    if not (isinstance(cls, type) and issubclass(cls, SearchStrategy)):
        raise TypeError(f"a search strategy subclasses SearchStrategy, got {cls!r}")
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name.strip():
        raise TypeError(f"{cls.__qualname__}.name must be a non-empty string (the scheme's name), got {name!r}")
    if name in STRATEGIES:
        raise KeyError(f"scheme {name!r} is already registered ({STRATEGIES[name].__qualname__})")
    splits = getattr(cls, "splits", ())
    if not splits or not all(isinstance(s, Split) for s in splits):
        raise TypeError(f"{cls.__qualname__}.splits must declare the Split(s) it draws from, got {splits!r}")
    STRATEGIES[name] = cls
    return cls


def unregister_strategy(name: str) -> None:
    """Remove a scheme registered at run time (tests and plug-ins clean up with this)."""
    STRATEGIES.pop(name, None)


@register_strategy
class OneStepFull(SearchStrategy):
    """OF (Algorithm 1): single level; one Adam over the generators' weights AND alphas steps on L, then one over
    the discriminators' weights and alphas steps on their adversarial losses."""

    name = "OF"
    splits = (FULL_SPLIT,)

    def __init__(self, nets: CycleGANNetworks, cfg: SearchConfig):
        super().__init__(nets, cfg)
        self.opt_g = self._one_step_adam([nets.g_a, nets.g_b])
        self.opt_d = self._one_step_adam([nets.d_a, nets.d_b])

    def _one_step_adam(self, supernets: list) -> torch.optim.Adam:
        """One Adam over weights and alphas, the alphas in their own parameter group at `optim.of_alpha_lr`
        (None: the weights' lr, the paper's single optimizer; same betas either way, docs/design.md §4)."""
        o = self.cfg.optim
        weights = [p for net in supernets for p in net.weight_parameters()]
        alphas = [p for net in supernets for p in net.arch_parameters()]
        return torch.optim.Adam(
            [{"params": weights}, {"params": alphas, "lr": self.alpha_lr()}], lr=o.lr, betas=(o.beta1, o.beta2)
        )

    def alpha_lr(self) -> float:
        o = self.cfg.optim
        return o.lr if o.of_alpha_lr is None else o.of_alpha_lr

    def alpha_param_groups(self) -> list[dict]:
        return [self.opt_g.param_groups[1], self.opt_d.param_groups[1]]

    def data_roles(self, epoch: int) -> tuple[Split, Split | None]:
        return FULL_SPLIT, None

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"g": self.opt_g, "d": self.opt_d}

    def step(self, w_batch: dict, alpha_batch: dict | None) -> dict[str, float]:
        return self._weight_step(w_batch)


class TwoStep(SearchStrategy):
    """First-order bi-level search: an alpha step (own Adam, lr 3e-4, weight decay 1e-3) on the architecture
    data, then a weight step on the weight data; twice the optimizer steps of OF per iteration."""

    def __init__(self, nets: CycleGANNetworks, cfg: SearchConfig):
        super().__init__(nets, cfg)
        self.alpha_g = [*nets.g_a.arch_parameters(), *nets.g_b.arch_parameters()]
        self.alpha_d = [*nets.d_a.arch_parameters(), *nets.d_b.arch_parameters()]
        self.opt_g = self._adam([*nets.g_a.weight_parameters(), *nets.g_b.weight_parameters()])
        self.opt_d = self._adam([*nets.d_a.weight_parameters(), *nets.d_b.weight_parameters()])
        self.opt_alpha_g = self._adam(self.alpha_g, arch=True)
        self.opt_alpha_d = self._adam(self.alpha_d, arch=True)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"g": self.opt_g, "d": self.opt_d, "alpha_g": self.opt_alpha_g, "alpha_d": self.opt_alpha_d}

    def alpha_lr(self) -> float:
        return self.cfg.optim.arch_lr

    def alpha_param_groups(self) -> list[dict]:
        return [*self.opt_alpha_g.param_groups, *self.opt_alpha_d.param_groups]

    def step(self, w_batch: dict, alpha_batch: dict | None) -> dict[str, float]:
        alpha_losses = self._alpha_step(alpha_batch["a"], alpha_batch["b"])
        w_losses = self._weight_step(w_batch)
        return {**w_losses, **alpha_losses}

    def _alpha_step(self, real_a: torch.Tensor, real_b: torch.Tensor) -> dict[str, float]:
        """Generator alphas descend L, discriminator alphas their adversarial losses (fresh fakes, no pool:
        the pools belong to the weight step)."""
        with self.autocast():
            t = translate_both(self.nets, real_a, real_b, self.cfg.loss)
            loss_g, _ = generator_loss(self.nets, real_a, real_b, t, self.cfg.loss)
        self._descend(loss_g, self.alpha_g, self.opt_alpha_g)
        with self.autocast():
            loss_d_a, loss_d_b = discriminator_losses(
                self.nets, real_a, real_b, t.fake_a.detach(), t.fake_b.detach(), self.gan
            )
        self._descend(loss_d_a + loss_d_b, self.alpha_d, self.opt_alpha_d)
        return {"alpha_loss_g": loss_g.item(), "alpha_loss_d": (loss_d_a + loss_d_b).item()}

    @staticmethod
    def _descend(loss: torch.Tensor, params: list, opt: torch.optim.Optimizer) -> None:
        # gradients w.r.t. the alphas only: the weights' gradients are never computed in this step; the alphas of
        # decided mixed ops (SearchConfig.decide_*) are out of the graph, get None and are skipped by Adam
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        for p, g in zip(params, grads):
            p.grad = g
        opt.step()
        opt.zero_grad(set_to_none=True)


@register_strategy
class TwoStepFull(TwoStep):
    """TF: weights and alphas both use the full subdatasets A and B (no division of the data)."""

    name = "TF"
    splits = (FULL_SPLIT, FULL_REDRAWN)

    def data_roles(self, epoch: int) -> tuple[Split, Split | None]:
        return FULL_SPLIT, FULL_REDRAWN


@register_strategy
class TwoStepHalf(TwoStep):
    """TH: A and B each split at random into equal halves; w uses (A1, B1), alpha uses (A2, B2)."""

    name = "TH"
    splits = (HALF1_SPLIT, HALF2_SPLIT)

    def data_roles(self, epoch: int) -> tuple[Split, Split | None]:
        return HALF1_SPLIT, HALF2_SPLIT


@register_strategy
class TwoStepHalfSwap(TwoStep):
    """THS: as TH up to `swap_epoch`; afterwards w uses (A2, B2) and alpha uses (A1, B1)."""

    name = "THS"
    splits = (HALF1_SPLIT, HALF2_SPLIT)

    def data_roles(self, epoch: int) -> tuple[Split, Split | None]:
        swap = self.cfg.swap_epoch if self.cfg.swap_epoch is not None else max(1, self.cfg.epochs // 2)
        return (HALF1_SPLIT, HALF2_SPLIT) if epoch <= swap else (HALF2_SPLIT, HALF1_SPLIT)


def build_strategy(nets: CycleGANNetworks, cfg: SearchConfig) -> SearchStrategy:
    try:
        cls = STRATEGIES[cfg.scheme]
    except KeyError:
        raise KeyError(f"scheme {cfg.scheme!r} has no strategy; registered: {sorted(STRATEGIES)}") from None
    return cls(nets, cfg)
