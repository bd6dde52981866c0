"""Size of the CycleGANAS search space: the number of distinct genotypes per network."""

from __future__ import annotations

from dataclasses import dataclass

from nasplatform.space.opsets import OP_SETS, OPS_PER_CELL, CellType

#: Encoding cells in a discriminator (docs/design.md §2.3).
DISCRIMINATOR_CELLS = 2


@dataclass(frozen=True)
class SpaceSize:
    """Number of architectures: one generator, one discriminator, and all four networks
    (G_A, G_B, D_A, D_B searched separately)."""

    n_cells: int
    generator: int
    discriminator: int

    @property
    def all_networks(self) -> int:
        return self.generator**2 * self.discriminator**2


def search_space_size(n_cells: int = 11) -> SpaceSize:
    """|S^e|^2 * |S^r|^(2(N-2)) * |S^d|^2 per generator, |S^e|^4 per discriminator."""
    if n_cells < 3:
        raise ValueError(f"n_cells must be >= 3 (one encoding, >= 1 residual, one decoding cell), got {n_cells}")
    n_res = n_cells - 2
    n_e, n_r, n_d = (len(OP_SETS[t]) for t in (CellType.ENCODING, CellType.RESIDUAL, CellType.DECODING))
    generator = n_e**OPS_PER_CELL * n_r ** (OPS_PER_CELL * n_res) * n_d**OPS_PER_CELL
    discriminator = n_e ** (OPS_PER_CELL * DISCRIMINATOR_CELLS)
    return SpaceSize(n_cells=n_cells, generator=generator, discriminator=discriminator)
