"""Search strategies behind one small interface (NASLib-style): OF, TF, TH and THS (paper §3.3)."""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from typing import Optional

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
from nasplatform.engine.networks import CycleGANNetworks, Genotypes
from nasplatform.engine.pool import ImagePool

#: Data splits a step can draw from: the whole training set, or one of the seeded halves of A and B.
FULL, HALF1, HALF2 = "full", "half1", "half2"


class SearchStrategy(ABC):
    """`step` runs one search iteration; `get_final_architecture` derives the four genotypes (argmax alpha).

    `data_roles(epoch)` says which split feeds the weight step (w) and which the alpha step (None: no alpha step).
    """

    name: str

    def __init__(self, nets: CycleGANNetworks, cfg: SearchConfig):
        self.nets, self.cfg = nets, cfg
        self.gan = GANLoss(cfg.loss.gan_mode)
        self.pools = (ImagePool(cfg.loss.pool_size, seed=cfg.seed), ImagePool(cfg.loss.pool_size, seed=cfg.seed + 1))
        self.autocast = functools.partial(autocast, cfg.accel, cfg.device)

    @abstractmethod
    def data_roles(self, epoch: int) -> tuple[str, Optional[str]]: ...

    @abstractmethod
    def step(self, w_batch: dict, alpha_batch: Optional[dict]) -> dict[str, float]: ...

    @abstractmethod
    def optimizers(self) -> dict[str, torch.optim.Optimizer]: ...

    @abstractmethod
    def alpha_lr(self) -> float:
        """The learning rate the alphas are stepped with."""

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
        return cyclegan_step(self.nets, self.opt_g, self.opt_d, self.pools, batch["a"], batch["b"], self.gan,
                             self.cfg.loss, self.autocast)

    def _adam(self, params, arch: bool = False) -> torch.optim.Adam:
        o = self.cfg.optim
        if arch:
            return torch.optim.Adam(params, lr=o.arch_lr, betas=(o.arch_beta1, o.arch_beta2), weight_decay=o.arch_weight_decay)
        return torch.optim.Adam(params, lr=o.lr, betas=(o.beta1, o.beta2))


class OneStepFull(SearchStrategy):
    """OF (Algorithm 1): single level; one Adam over the generators' weights AND alphas steps on L, then one over
    the discriminators' weights and alphas steps on their adversarial losses."""

    name = "OF"

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
        return torch.optim.Adam([{"params": weights}, {"params": alphas, "lr": self.alpha_lr()}],
                                lr=o.lr, betas=(o.beta1, o.beta2))

    def alpha_lr(self) -> float:
        o = self.cfg.optim
        return o.lr if o.of_alpha_lr is None else o.of_alpha_lr

    def data_roles(self, epoch: int) -> tuple[str, Optional[str]]:
        return FULL, None

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"g": self.opt_g, "d": self.opt_d}

    def step(self, w_batch: dict, alpha_batch: Optional[dict]) -> dict[str, float]:
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

    def step(self, w_batch: dict, alpha_batch: Optional[dict]) -> dict[str, float]:
        alpha_losses = self._alpha_step(alpha_batch["a"], alpha_batch["b"])
        w_losses = self._weight_step(w_batch)
        return {**w_losses, **alpha_losses}

    def _alpha_step(self, real_a: torch.Tensor, real_b: torch.Tensor) -> dict[str, float]:
        """Generator alphas descend L, discriminator alphas their adversarial losses (fresh fakes, no pool:
        the pools belong to the weight step)."""
        with self.autocast():
            t = translate_both(self.nets, real_a, real_b, self.cfg.loss)
            loss_g, _ = generator_loss(self.nets, real_a, real_b, t, self.gan, self.cfg.loss)
        self._descend(loss_g, self.alpha_g, self.opt_alpha_g)
        with self.autocast():
            loss_d_a, loss_d_b = discriminator_losses(self.nets, real_a, real_b, t.fake_a.detach(), t.fake_b.detach(), self.gan)
        self._descend(loss_d_a + loss_d_b, self.alpha_d, self.opt_alpha_d)
        return {"alpha_loss_g": loss_g.item(), "alpha_loss_d": (loss_d_a + loss_d_b).item()}

    @staticmethod
    def _descend(loss: torch.Tensor, params: list, opt: torch.optim.Optimizer) -> None:
        # gradients w.r.t. the alphas only: the weights' gradients are never computed in this step
        grads = torch.autograd.grad(loss, params)
        for p, g in zip(params, grads):
            p.grad = g
        opt.step()
        opt.zero_grad(set_to_none=True)


class TwoStepFull(TwoStep):
    """TF: weights and alphas both use the full subdatasets A and B (no division of the data)."""

    name = "TF"

    def data_roles(self, epoch: int) -> tuple[str, Optional[str]]:
        return FULL, FULL


class TwoStepHalf(TwoStep):
    """TH: A and B each split at random into equal halves; w uses (A1, B1), alpha uses (A2, B2)."""

    name = "TH"

    def data_roles(self, epoch: int) -> tuple[str, Optional[str]]:
        return HALF1, HALF2


class TwoStepHalfSwap(TwoStep):
    """THS: as TH up to `swap_epoch`; afterwards w uses (A2, B2) and alpha uses (A1, B1)."""

    name = "THS"

    def data_roles(self, epoch: int) -> tuple[str, Optional[str]]:
        swap = self.cfg.swap_epoch if self.cfg.swap_epoch is not None else max(1, self.cfg.epochs // 2)
        return (HALF1, HALF2) if epoch <= swap else (HALF2, HALF1)


STRATEGIES: dict[str, type[SearchStrategy]] = {
    cls.name: cls for cls in (OneStepFull, TwoStepFull, TwoStepHalf, TwoStepHalfSwap)
}


def build_strategy(nets: CycleGANNetworks, cfg: SearchConfig) -> SearchStrategy:
    return STRATEGIES[cfg.scheme](nets, cfg)
