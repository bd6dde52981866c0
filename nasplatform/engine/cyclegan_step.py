"""One CycleGAN iteration (official optimize_parameters order): the G step on L, then the D steps."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager as ContextManager
from dataclasses import dataclass

import torch

from nasplatform.engine.config import LossConfig
from nasplatform.engine.losses import GANLoss, discriminator_loss, generator_objective
from nasplatform.engine.pool import ImagePool
from nasplatform.nets.build import CycleGANNetworks


@dataclass
class Translations:
    """fake_b = G_A(a), rec_a = G_B(G_A(a)), fake_a = G_B(b), rec_b = G_A(G_B(b)), idt_a = G_A(b), idt_b = G_B(a)."""

    fake_b: torch.Tensor
    rec_a: torch.Tensor
    fake_a: torch.Tensor
    rec_b: torch.Tensor
    idt_a: torch.Tensor | None
    idt_b: torch.Tensor | None


def translate_both(nets: CycleGANNetworks, real_a: torch.Tensor, real_b: torch.Tensor, cfg: LossConfig) -> Translations:
    # fake_b and idt_a come from one G_A call on [a; b] (likewise fake_a and idt_b from G_B): every norm is
    # InstanceNorm, which normalises each image on its own, so stacking along the batch gives the same images
    # with one merged-kernel assembly and half the kernel launches per network (identity skipped when lambda = 0)
    fake_b, idt_a = _on_both(nets.g_a, real_a, real_b if cfg.lambda_idt_a > 0 else None)
    fake_a, idt_b = _on_both(nets.g_b, real_b, real_a if cfg.lambda_idt_b > 0 else None)
    return Translations(fake_b, nets.g_b(fake_b), fake_a, nets.g_a(fake_a), idt_a, idt_b)


def _on_both(net, x: torch.Tensor, extra: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(net(x), net(extra)) from one call on the stacked batch; (net(x), None) without `extra`."""
    if extra is None:
        return net(x), None
    out_x, out_extra = net(torch.cat([x, extra])).split([len(x), len(extra)])
    return out_x, out_extra


def set_requires_grad(nets, flag: bool) -> None:
    for net in nets:
        for p in net.parameters():
            p.requires_grad_(flag)


def generator_loss(nets: CycleGANNetworks, real_a, real_b, t: Translations, cfg: LossConfig):
    """L = l1*Ladv(G_A,D_B) + l2*Ladv(G_B,D_A) + l3*Lcyc + l4*Lidt(G_A) + l5*Lidt(G_B)."""
    return generator_objective(
        real_a,
        real_b,
        t.fake_b,
        t.fake_a,
        t.rec_a,
        t.rec_b,
        t.idt_a,
        t.idt_b,
        nets.d_a(t.fake_a),
        nets.d_b(t.fake_b),
        cfg,
    )


def discriminator_losses(nets: CycleGANNetworks, real_a, real_b, fake_a, fake_b, gan: GANLoss):
    """D_A separates real A from G_B's fakes; D_B separates real B from G_A's fakes."""
    return discriminator_loss(nets.d_a, real_a, fake_a, gan), discriminator_loss(nets.d_b, real_b, fake_b, gan)


def cyclegan_step(
    nets: CycleGANNetworks,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    pools: tuple[ImagePool, ImagePool],
    real_a: torch.Tensor,
    real_b: torch.Tensor,
    gan: GANLoss,
    cfg: LossConfig,
    autocast: Callable[[], ContextManager] = contextlib.nullcontext,
) -> dict[str, float]:
    """G step on L (discriminators frozen), then D_A and D_B on images from the 50-image pools.

    `opt_g`/`opt_d` decide what is trained: weights only (retrain, bi-level w-step) or weights and alphas (OF).
    `autocast` opens the precision context (engine.accel.autocast) around each forward pass and its loss terms;
    the backward passes run outside it.
    """
    pool_a, pool_b = pools
    set_requires_grad(nets.discriminators(), False)
    opt_g.zero_grad(set_to_none=True)
    with autocast():
        t = translate_both(nets, real_a, real_b, cfg)
        loss_g, parts = generator_loss(nets, real_a, real_b, t, cfg)
    loss_g.backward()
    opt_g.step()
    set_requires_grad(nets.discriminators(), True)
    opt_d.zero_grad(set_to_none=True)
    fake_a, fake_b = pool_a.query(t.fake_a.detach()), pool_b.query(t.fake_b.detach())
    with autocast():
        loss_d_a, loss_d_b = discriminator_losses(nets, real_a, real_b, fake_a, fake_b, gan)
    (loss_d_a + loss_d_b).backward()
    opt_d.step()
    return {"loss_g": loss_g.item(), **_floats(parts), "loss_d_a": loss_d_a.item(), "loss_d_b": loss_d_b.item()}


def _floats(parts: dict) -> dict[str, float]:
    return {k: float(v) for k, v in parts.items()}
