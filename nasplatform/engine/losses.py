"""The CycleGAN objective (paper §3.3): L = l1*Ladv(G_A,D_B) + l2*Ladv(G_B,D_A) + l3*Lcyc + l4*Lidt(G_A) + l5*Lidt(G_B).

Conventions of the CycleGANAS paper (its L_adv(G_A, D_B)): G_A maps A -> B and D_B judges B-domain images (so
Ladv(G_A, D_B) scores D_B(G_A(a))); G_B maps B -> A and D_A judges A-domain images. The official CycleGAN code names
its discriminators the other way round (its netD_A judges fake_B = netG_A(real_A), netD_B judges fake_A): the same
networks and losses under swapped names, so its D_A corresponds to D_B here (docs/design.md §4.1).
lambda = (l1..l5) = (1, 1, 10, 5, 5) by default.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nasplatform.engine.config import GanMode, LossConfig

GAN_MODES: tuple[str, ...] = ("lsgan", "vanilla")


class GANLoss(nn.Module):
    """The adversarial loss of one prediction map against a constant target, as the official CycleGAN `GANLoss`.

    "lsgan": mean squared error to 1 (real) or 0 (fake), CycleGAN's default. "vanilla": binary cross-entropy on
    logits, the paper's Eq. 1. The target is built with the prediction's shape, dtype and device.
    """

    def __init__(self, mode: GanMode = "lsgan", target_real: float = 1.0, target_fake: float = 0.0):
        super().__init__()
        if mode not in GAN_MODES:
            raise ValueError(f"gan_mode must be one of {GAN_MODES}, got {mode!r}")
        self.mode = mode
        self.target_real, self.target_fake = float(target_real), float(target_fake)

    def forward(self, prediction: Tensor, target_is_real: bool) -> Tensor:
        target = torch.full_like(prediction, self.target_real if target_is_real else self.target_fake)
        if self.mode == "lsgan":
            return F.mse_loss(prediction, target)
        return F.binary_cross_entropy_with_logits(prediction, target)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"


def cycle_loss(reconstructed: Tensor, real: Tensor) -> Tensor:
    """One direction of Lcyc: mean |G_B(G_A(a)) - a| (or |G_A(G_B(b)) - b|)."""
    return F.l1_loss(reconstructed, real)


def identity_loss(identity: Tensor, real: Tensor) -> Tensor:
    """Lidt(G_A) = mean |G_A(b) - b| (identity = G_A(real_b), real = real_b); Lidt(G_B) likewise with a."""
    return F.l1_loss(identity, real)


def _weighted_identity(identity: Tensor | None, real: Tensor, weight: float, name: str) -> Tensor | None:
    if identity is None:
        if weight > 0:
            raise ValueError(f"{name} is None but its weight is {weight}: compute it or set the weight to 0")
        return None
    return identity_loss(identity, real)


def generator_objective(
    real_a: Tensor,
    real_b: Tensor,
    fake_b: Tensor,
    fake_a: Tensor,
    rec_a: Tensor,
    rec_b: Tensor,
    idt_a: Tensor | None,
    idt_b: Tensor | None,
    d_a_fake_logits: Tensor,
    d_b_fake_logits: Tensor,
    cfg: LossConfig,
) -> tuple[Tensor, dict[str, Tensor]]:
    """The generators' objective L and its unweighted parts.

    fake_b = G_A(real_a), fake_a = G_B(real_b), rec_a = G_B(fake_b), rec_b = G_A(fake_a), idt_a = G_A(real_b),
    idt_b = G_B(real_a) (None when its weight is 0), d_a_fake_logits = D_A(fake_a), d_b_fake_logits = D_B(fake_b).
    fake_b and fake_a enter only through the logits; they are taken so the call names every image of the step.

    Terms: Ladv(G_A, D_B) = GAN(D_B(fake_b), real) (lambda_1 = cfg.lambda_adv_a), Ladv(G_B, D_A) likewise
    (lambda_2 = cfg.lambda_adv_b), Lcyc = |rec_a - real_a| + |rec_b - real_b| (lambda_3 = cfg.lambda_cyc),
    Lidt(G_A) = |idt_a - real_b| (lambda_4 = cfg.lambda_idt_a), Lidt(G_B) = |idt_b - real_a| (lambda_5).
    The official code scales identity by lambda_B * lambda_identity = 10 * 0.5; here lambda_4, lambda_5 are
    that product. Parts (detached, before the lambdas): loss_adv_a2b, loss_adv_b2a, loss_cyc, loss_idt.
    """
    gan = GANLoss(cfg.gan_mode)
    adv_a2b = gan(d_b_fake_logits, True)
    adv_b2a = gan(d_a_fake_logits, True)
    cyc = cycle_loss(rec_a, real_a) + cycle_loss(rec_b, real_b)
    idt_terms = [
        (cfg.lambda_idt_a, _weighted_identity(idt_a, real_b, cfg.lambda_idt_a, "idt_a")),
        (cfg.lambda_idt_b, _weighted_identity(idt_b, real_a, cfg.lambda_idt_b, "idt_b")),
    ]
    total = cfg.lambda_adv_a * adv_a2b + cfg.lambda_adv_b * adv_b2a + cfg.lambda_cyc * cyc
    idt = torch.zeros((), device=total.device, dtype=total.dtype)
    for weight, term in idt_terms:
        if term is not None:
            total = total + weight * term
            idt = idt + term.detach()
    parts = {
        "loss_adv_a2b": adv_a2b.detach(),
        "loss_adv_b2a": adv_b2a.detach(),
        "loss_cyc": cyc.detach(),
        "loss_idt": idt,
    }
    return total, parts


def discriminator_loss(d: nn.Module, real: Tensor, fake_from_pool: Tensor, gan: GANLoss) -> Tensor:
    """0.5 * (GAN(D(real), real) + GAN(D(fake), fake)), the fake detached so no gradient reaches the generator.

    For D_A: real = real_a, fake = a pooled G_B(real_b); for D_B: real = real_b, fake = a pooled G_A(real_a).
    D sees real and fake in one call: its InstanceNorms treat each image on its own, so this equals two calls.
    """
    pred_real, pred_fake = d(torch.cat([real, fake_from_pool.detach()])).split([len(real), len(fake_from_pool)])
    return 0.5 * (gan(pred_real, True) + gan(pred_fake, False))
