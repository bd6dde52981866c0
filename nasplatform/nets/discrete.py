"""Discrete networks built from a genotype; their op modules sit at the paths of the supernet's mixed ops."""

from __future__ import annotations

import torch
from torch import nn

from nasplatform.nets.init import init_cyclegan_weights
from nasplatform.nets.layout import (
    build_cells,
    discriminator_head,
    discriminator_slots,
    generator_head,
    generator_slots,
    generator_stem,
    genotype_op,
)
from nasplatform.ops.primitives import build_op
from nasplatform.space.genotype import DiscriminatorGenotype, GeneratorGenotype


class Generator(nn.Module):
    """A discrete generator (G_A or G_B) at hidden dim H; `cyclegan` at H=64 is the official ResNet-9 one."""

    kind = "generator"

    def __init__(self, genotype: GeneratorGenotype, hidden_dim: int = 64):
        super().__init__()
        if not isinstance(genotype, GeneratorGenotype):
            raise TypeError(f"Generator needs a GeneratorGenotype, got {type(genotype).__name__}")
        self.genotype, self.hidden_dim = genotype, hidden_dim
        self.slots = generator_slots(genotype.n_cells, hidden_dim)
        self.stem = generator_stem(hidden_dim)
        self.cells = build_cells(
            self.slots, lambda s: build_op(genotype_op(genotype, s), s.c_in, s.c_out, s.cell_type, s.stride), self.kind
        )
        self.head = generator_head(hidden_dim)
        init_cyclegan_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for cell in self.cells:
            x = cell(x)
        return self.head(x)


class Discriminator(nn.Module):
    """A discrete searched discriminator (D_A or D_B) at base width ndf."""

    kind = "discriminator"

    def __init__(self, genotype: DiscriminatorGenotype, ndf: int = 64):
        super().__init__()
        if not isinstance(genotype, DiscriminatorGenotype):
            raise TypeError(f"Discriminator needs a DiscriminatorGenotype, got {type(genotype).__name__}")
        self.genotype, self.ndf = genotype, ndf
        self.slots = discriminator_slots(ndf)
        self.cells = build_cells(
            self.slots, lambda s: build_op(genotype_op(genotype, s), s.c_in, s.c_out, s.cell_type, s.stride), self.kind
        )
        self.head = discriminator_head(ndf)
        init_cyclegan_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for cell in self.cells:
            x = cell(x)
        return self.head(x)
