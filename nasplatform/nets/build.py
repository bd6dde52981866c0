"""The four CycleGAN networks of a run: G_A (A->B), G_B (B->A), D_A (judges A), D_B (judges B)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from nasplatform.nets import Discriminator, DiscriminatorSupernet, Generator, GeneratorSupernet, PatchGANDiscriminator
from nasplatform.space import NETWORK_NAMES, GenotypeError, genotypes_from_json
from nasplatform.space.genotype import CYCLEGAN, PATCHGAN_POINT, DiscriminatorGenotype, GeneratorGenotype


@dataclass
class CycleGANNetworks:
    """g_a: G_A, A -> B; g_b: G_B, B -> A; d_a: D_A, real vs fake A; d_b: D_B, real vs fake B."""

    g_a: nn.Module
    g_b: nn.Module
    d_a: nn.Module
    d_b: nn.Module

    def items(self) -> Iterator[tuple[str, nn.Module]]:
        for name in NETWORK_NAMES:
            yield name, getattr(self, name)

    def generators(self) -> list[nn.Module]:
        return [self.g_a, self.g_b]

    def discriminators(self) -> list[nn.Module]:
        return [self.d_a, self.d_b]

    def to(self, device) -> CycleGANNetworks:
        for _, net in self.items():
            net.to(device)
        return self

    def train(self, mode: bool = True) -> None:
        for _, net in self.items():
            net.train(mode)

    def state_dict(self) -> dict:
        return {name: net.state_dict() for name, net in self.items()}

    def load_state_dict(self, state: dict) -> None:
        for name, net in self.items():
            net.load_state_dict(state[name])


def build_supernets(n_cells: int, hidden_dim: int, ndf: int, mode: str) -> CycleGANNetworks:
    """Four supernets, each with its own alphas (the generators may end up asymmetric)."""
    return CycleGANNetworks(
        g_a=GeneratorSupernet(n_cells, hidden_dim, mode),
        g_b=GeneratorSupernet(n_cells, hidden_dim, mode),
        d_a=DiscriminatorSupernet(ndf, mode),
        d_b=DiscriminatorSupernet(ndf, mode),
    )


Genotypes = dict[str, GeneratorGenotype | DiscriminatorGenotype]


def load_genotypes(source: str) -> Genotypes:
    """`cyclegan` (with PatchGAN-point discriminators) or a genotypes.json path with keys g_a, g_b[, d_a, d_b]."""
    if source == "cyclegan":
        return dict(zip(NETWORK_NAMES, (CYCLEGAN, CYCLEGAN, PATCHGAN_POINT, PATCHGAN_POINT)))
    path = Path(source)
    if not path.is_file():
        raise GenotypeError(f"genotypes: {source!r} is neither 'cyclegan' nor an existing genotypes.json file")
    return genotypes_from_json(path.read_text(), str(path))


def build_discrete(
    genotypes: Genotypes, hidden_dim_a: int, hidden_dim_b: int, ndf: int, discriminator: str
) -> CycleGANNetworks:
    """Discrete networks for retraining; `discriminator` is "patchgan" (official) or "searched"."""
    if discriminator == "searched":
        if not {"d_a", "d_b"} <= genotypes.keys():
            raise GenotypeError("discriminator='searched' needs d_a and d_b genotypes")
        d_a, d_b = Discriminator(genotypes["d_a"], ndf), Discriminator(genotypes["d_b"], ndf)
    else:
        d_a, d_b = PatchGANDiscriminator(ndf), PatchGANDiscriminator(ndf)
    return CycleGANNetworks(
        g_a=Generator(genotypes["g_a"], hidden_dim_a), g_b=Generator(genotypes["g_b"], hidden_dim_b), d_a=d_a, d_b=d_b
    )


def genotypes_to_json(genotypes: Genotypes) -> str:
    return json.dumps({name: g.to_dict() for name, g in genotypes.items()}, indent=2, sort_keys=True)
