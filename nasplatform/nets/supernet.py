"""Supernets: CycleGAN generator and discriminator built of mixed ops, with alpha kept apart from weights."""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch import nn

from nasplatform.nets.init import init_cyclegan_weights
from nasplatform.nets.layout import (
    Slot,
    build_cells,
    discriminator_head,
    discriminator_slots,
    generator_head,
    generator_slots,
    generator_stem,
    genotype_from_choices,
)
from nasplatform.ops.mixed import MixedOp
from nasplatform.space.genotype import DiscriminatorGenotype, GeneratorGenotype


@torch.no_grad()
def normalised_entropy(alpha: torch.Tensor) -> float:
    """H(softmax(alpha)) / log K for one mixed op's K alphas: 1 for uniform mixing, 0 for one-hot (and for K = 1)."""
    k = alpha.numel()
    if k < 2:
        return 0.0
    log_p = torch.log_softmax(alpha.detach().double().flatten(), dim=-1)
    return float(-(log_p.exp() * log_p).sum() / math.log(k))


class _Supernet(nn.Module):
    """Accessors shared by both supernets; subclasses set `kind`, `slots` and `cells`."""

    kind: str
    slots: list[Slot]

    def mixed_ops(self) -> Iterator[tuple[Slot, MixedOp]]:
        for slot in self.slots:
            yield slot, self.get_submodule(slot.path)

    def arch_parameters(self) -> list[nn.Parameter]:
        """alpha of every mixed op, in slot order."""
        return [op.alpha for _, op in self.mixed_ops()]

    def weight_parameters(self) -> list[nn.Parameter]:
        """Every parameter that is not an alpha."""
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    def set_mode(self, mode: str) -> None:
        """Switch every mixed op between "merged" and "reference" execution."""
        for _, op in self.mixed_ops():
            op.mode = mode

    def set_gumbel_tau(self, tau: float | None) -> None:
        """Mix with Gumbel-softmax at temperature tau in training (None: plain softmax)."""
        for _, op in self.mixed_ops():
            op.tau = tau

    def derive(self):
        """The argmax-alpha genotype."""
        return genotype_from_choices(self.kind, self.slots, {s.id: op.derive() for s, op in self.mixed_ops()})

    @torch.no_grad()
    def alpha_entropies(self) -> list[float]:
        """Normalised entropy of softmax(alpha) of every mixed op, in slot order (1 = uniform, 0 = one-hot)."""
        return [normalised_entropy(op.alpha) for _, op in self.mixed_ops()]

    @torch.no_grad()
    def mixing_table(self) -> list[dict]:
        """softmax(alpha) of every candidate of every mixed op, one row each (alpha_history.parquet rows)."""
        rows = []
        for slot, op in self.mixed_ops():
            weights = torch.softmax(op.alpha, dim=-1)
            for name, a, w in zip(op.op_names, op.alpha.tolist(), weights.tolist()):
                rows.append(
                    {
                        "mixed_op": slot.id,
                        "cell": slot.cell,
                        "cell_type": slot.cell_type.value,
                        "position": slot.position,
                        "op": name,
                        "alpha": a,
                        "weight": w,
                    }
                )
        return rows


class GeneratorSupernet(_Supernet):
    """Generator supernet with N cells (C1^e, C2^r..C_{N-1}^r, C_N^d) at hidden dim H (CycleGAN's ngf).

    Used for G_A (A -> B) and G_B (B -> A); each instance has its own alphas, so the two can end up asymmetric.
    """

    kind = "generator"

    def __init__(self, n_cells: int = 11, hidden_dim: int = 16, mode: str = "merged"):
        super().__init__()
        self.n_cells, self.hidden_dim = n_cells, hidden_dim
        self.slots = generator_slots(n_cells, hidden_dim)
        self.stem = generator_stem(hidden_dim)
        self.cells = build_cells(self.slots, lambda s: MixedOp(s.cell_type, s.c_in, s.c_out, s.stride, mode), self.kind)
        self.head = generator_head(hidden_dim)
        init_cyclegan_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for cell in self.cells:
            x = cell(x)
        return self.head(x)

    def derive(self) -> GeneratorGenotype:
        return super().derive()


class DiscriminatorSupernet(_Supernet):
    """Discriminator supernet: two encoding cells of mixed ops and a fixed PatchGAN head (D_A, D_B)."""

    kind = "discriminator"

    def __init__(self, ndf: int = 64, mode: str = "merged"):
        super().__init__()
        self.ndf = ndf
        self.slots = discriminator_slots(ndf)
        self.cells = build_cells(self.slots, lambda s: MixedOp(s.cell_type, s.c_in, s.c_out, s.stride, mode), self.kind)
        self.head = discriminator_head(ndf)
        init_cyclegan_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for cell in self.cells:
            x = cell(x)
        return self.head(x)

    def derive(self) -> DiscriminatorGenotype:
        return super().derive()
