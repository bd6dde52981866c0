"""Layouts shared by supernets and discrete networks: the op slots, stems and heads (docs/design.md §2)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from nasplatform.ops.cells import Cell, ResidualCell, norm
from nasplatform.space.genotype import DiscriminatorGenotype, GeneratorGenotype
from nasplatform.space.opsets import CellType


@dataclass(frozen=True)
class Slot:
    """One searchable op position: `id` names it in tables (`enc.0`, `res3.1`, `dec.1`; `enc1.0` in a
    discriminator); `path` is where its module lives in both supernet and discrete network."""

    id: str
    cell: int
    position: int
    cell_type: CellType
    stride: int
    c_in: int
    c_out: int

    @property
    def path(self) -> str:
        return f"cells.{self.cell}.op{self.position + 1}"


#: make_op(slot) -> module: a MixedOp in a supernet, the genotype's op in a discrete network.
MakeOp = Callable[[Slot], nn.Module]


def generator_slots(n_cells: int, hidden_dim: int) -> list[Slot]:
    """C1^e: H->2H->4H (stride 2 each); C2^r..C_{N-1}^r at 4H; C_N^d: 4H->2H->H (x2 each)."""
    if n_cells < 3:
        raise ValueError(f"n_cells must be >= 3, got {n_cells}")
    h = hidden_dim
    slots = [
        Slot("enc.0", 0, 0, CellType.ENCODING, 2, h, 2 * h),
        Slot("enc.1", 0, 1, CellType.ENCODING, 2, 2 * h, 4 * h),
    ]
    for cell in range(1, n_cells - 1):
        for pos in range(2):
            slots.append(Slot(f"res{cell}.{pos}", cell, pos, CellType.RESIDUAL, 1, 4 * h, 4 * h))
    last = n_cells - 1
    slots += [
        Slot("dec.0", last, 0, CellType.DECODING, 1, 4 * h, 2 * h),
        Slot("dec.1", last, 1, CellType.DECODING, 1, 2 * h, h),
    ]
    return slots


def discriminator_slots(ndf: int) -> list[Slot]:
    """Cell 1: 3->D s2, D->2D s2; cell 2: 2D->4D s2, 4D->8D stride 1 (PatchGAN's stride-1 layer)."""
    d = ndf
    return [
        Slot("enc1.0", 0, 0, CellType.ENCODING, 2, 3, d),
        Slot("enc1.1", 0, 1, CellType.ENCODING, 2, d, 2 * d),
        Slot("enc2.0", 1, 0, CellType.ENCODING, 2, 2 * d, 4 * d),
        Slot("enc2.1", 1, 1, CellType.ENCODING, 1, 4 * d, 8 * d),
    ]


def build_cells(slots: list[Slot], make_op: MakeOp, kind: str) -> nn.ModuleList:
    """Group slots two by two into cells; residual cells get the skip connection."""
    cells = []
    for first, second in zip(slots[0::2], slots[1::2]):
        op1, op2 = make_op(first), make_op(second)
        if first.cell_type == CellType.RESIDUAL:
            cells.append(ResidualCell(op1, op2, first.c_in))
        else:
            cells.append(Cell(op1, op2, first.c_out, second.c_out, kind))
    return nn.ModuleList(cells)


def generator_stem(hidden_dim: int) -> nn.Sequential:
    """Fixed stem: reflect-pad 3, conv7x7 3->H, norm, ReLU."""
    return nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(3, hidden_dim, 7), norm(hidden_dim), nn.ReLU())


def generator_head(hidden_dim: int) -> nn.Sequential:
    """Fixed head: reflect-pad 3, conv7x7 H->3, tanh."""
    return nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(hidden_dim, 3, 7), nn.Tanh())


def discriminator_head(ndf: int) -> nn.Conv2d:
    """Fixed PatchGAN head: conv4x4 8D->1 with padding 1, one logit per patch."""
    return nn.Conv2d(8 * ndf, 1, 4, stride=1, padding=1)


def genotype_op(genotype: GeneratorGenotype | DiscriminatorGenotype, slot: Slot) -> str:
    """The op a genotype puts in `slot`."""
    if isinstance(genotype, DiscriminatorGenotype):
        return genotype.cells[slot.cell][slot.position]
    if slot.cell_type == CellType.ENCODING:
        return genotype.encoding[slot.position]
    if slot.cell_type == CellType.DECODING:
        return genotype.decoding[slot.position]
    return genotype.residual[slot.cell - 1][slot.position]


def genotype_from_choices(kind: str, slots: list[Slot], choices: dict[str, str]):
    """Inverse of genotype_op: build the genotype from one op name per slot id."""
    pairs = [(choices[a.id], choices[b.id]) for a, b in zip(slots[0::2], slots[1::2])]
    if kind == "discriminator":
        return DiscriminatorGenotype(cells=tuple(pairs))
    return GeneratorGenotype(encoding=pairs[0], residual=tuple(pairs[1:-1]), decoding=pairs[-1])


@dataclass(frozen=True)
class SizeLimit:
    """The smallest square image every network of the search space takes, and the layer that sets it."""

    size: int
    reason: str


def min_image_size() -> SizeLimit:
    """The smallest crop size (a multiple of 8) at which every generator and discriminator runs.

    Generators: the residual cells work at crop/4 and reflection-pad by up to P pixels (dil_conv5x5: 4);
    reflection needs more pixels than it pads, and InstanceNorm needs more than one. Discriminators work at
    crop/8 after three stride-2 layers: the searched D's last cell normalises there and its conv4x4 head
    (padding 1) takes one pixel off; the PatchGAN baseline has one more conv4x4 (padding 1) before its last
    norm, so it needs crop/8 - 1 >= 2.
    """
    from nasplatform.ops.primitives import build_op
    from nasplatform.space.opsets import OP_SETS

    pads = {
        name: max(getattr(op, "pad_left", 0), getattr(op, "pad_right", 0))
        for name in OP_SETS[CellType.RESIDUAL]
        for op in [build_op(name, 1, 1, CellType.RESIDUAL)]
    }
    widest = max(pads, key=pads.get)
    generator = 4 * max(pads[widest] + 1, 2)
    searched_d, patchgan = 8 * 2, 8 * 3
    size = max(generator, searched_d, patchgan)
    size += -size % 8
    reason = (
        f"the generators' residual cells run at crop/4 and {widest} reflection-pads {pads[widest]} pixels "
        f"(needs crop >= {generator}); the PatchGAN discriminator runs at crop/8 and needs crop >= {patchgan}"
    )
    return SizeLimit(size, reason)
