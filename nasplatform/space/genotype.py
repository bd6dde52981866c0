"""Genotypes: frozen, JSON-serialisable descriptions of one discrete generator or discriminator."""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from typing import Any

from nasplatform.space.opsets import OP_SETS, OPS_PER_CELL, CellType
from nasplatform.space.size import DISCRIMINATOR_CELLS


class GenotypeError(ValueError):
    """A genotype that does not fit the search space; the message names the field at fault."""


Cell = tuple[str, str]


def _check_cell(field: str, cell: Any, cell_type: CellType) -> Cell:
    if isinstance(cell, str) or not hasattr(cell, "__len__") or len(cell) != OPS_PER_CELL:
        raise GenotypeError(f"{field}: a cell is {OPS_PER_CELL} op names, got {cell!r}")
    allowed = OP_SETS[cell_type]
    all_ops = {op for ops in OP_SETS.values() for op in ops}
    for i, op in enumerate(cell):
        if not isinstance(op, str) or op not in all_ops:
            raise GenotypeError(f"{field}[{i}]: unknown op {op!r}; known ops: {sorted(all_ops)}")
        if op not in allowed:
            raise GenotypeError(
                f"{field}[{i}]: op {op!r} is not allowed in a {cell_type.name.lower()} cell; allowed: {list(allowed)}"
            )
    return (cell[0], cell[1])


@dataclass(frozen=True)
class GeneratorGenotype:
    """A generator: encoding cell C1^e, residual cells C2^r..C_{N-1}^r, decoding cell C_N^d.

    `encoding` and `decoding` are the two op names of C1^e and C_N^d; `residual` holds the two op
    names of each residual cell, so N = len(residual) + 2.
    """

    encoding: Cell
    residual: tuple[Cell, ...]
    decoding: Cell

    kind = "generator"

    def __post_init__(self) -> None:
        object.__setattr__(self, "encoding", _check_cell("encoding", self.encoding, CellType.ENCODING))
        if isinstance(self.residual, str) or not hasattr(self.residual, "__len__") or len(self.residual) < 1:
            raise GenotypeError(f"residual: need at least one residual cell (N >= 3), got {self.residual!r}")
        cells = tuple(_check_cell(f"residual[{i}]", c, CellType.RESIDUAL) for i, c in enumerate(self.residual))
        object.__setattr__(self, "residual", cells)
        object.__setattr__(self, "decoding", _check_cell("decoding", self.decoding, CellType.DECODING))

    @property
    def n_cells(self) -> int:
        """N, the paper's number of cells."""
        return len(self.residual) + 2

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "encoding": list(self.encoding),
            "residual": [list(c) for c in self.residual],
            "decoding": list(self.decoding),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GeneratorGenotype:
        _check_keys(data, cls.kind, {"encoding", "residual", "decoding"})
        return cls(
            encoding=tuple(data["encoding"]),
            residual=tuple(tuple(c) if isinstance(c, list) else c for c in data["residual"]),
            decoding=tuple(data["decoding"]),
        )


@dataclass(frozen=True)
class DiscriminatorGenotype:
    """A discriminator: two encoding cells (3->D s2, D->2D s2; 2D->4D s2, 4D->8D s1) before a
    fixed 1-channel PatchGAN head."""

    cells: tuple[Cell, Cell]

    kind = "discriminator"

    def __post_init__(self) -> None:
        if isinstance(self.cells, str) or not hasattr(self.cells, "__len__") or len(self.cells) != DISCRIMINATOR_CELLS:
            raise GenotypeError(f"cells: a discriminator has {DISCRIMINATOR_CELLS} encoding cells, got {self.cells!r}")
        cells = tuple(_check_cell(f"cells[{i}]", c, CellType.ENCODING) for i, c in enumerate(self.cells))
        object.__setattr__(self, "cells", cells)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "cells": [list(c) for c in self.cells]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DiscriminatorGenotype:
        _check_keys(data, cls.kind, {"cells"})
        return cls(cells=tuple(tuple(c) if isinstance(c, list) else c for c in data["cells"]))


Genotype = GeneratorGenotype | DiscriminatorGenotype


def _check_keys(data: Any, kind: str, required: set[str]) -> None:
    if not isinstance(data, dict):
        raise GenotypeError(f"a {kind} genotype is a JSON object, got {type(data).__name__}")
    if data.get("kind", kind) != kind:
        raise GenotypeError(f"kind: expected {kind!r}, got {data.get('kind')!r}")
    missing = required - data.keys()
    if missing:
        raise GenotypeError(f"{sorted(missing)[0]}: missing from {kind} genotype")
    unknown = data.keys() - required - {"kind"}
    if unknown:
        raise GenotypeError(f"{sorted(unknown)[0]}: unknown key in {kind} genotype")


def genotype_from_dict(data: dict[str, Any]) -> Genotype:
    """Parse either genotype kind; `kind` decides, else the keys present."""
    if not isinstance(data, dict):
        raise GenotypeError(f"a genotype is a JSON object, got {type(data).__name__}")
    kind = data.get("kind")
    if kind == "discriminator" or (kind is None and "cells" in data):
        return DiscriminatorGenotype.from_dict(data)
    if kind in ("generator", None):
        return GeneratorGenotype.from_dict(data)
    raise GenotypeError(f"kind: unknown genotype kind {kind!r}; expected 'generator' or 'discriminator'")


#: The four networks of a run, in this order everywhere: G_A (A -> B), G_B (B -> A), D_A and D_B.
NETWORK_NAMES: tuple[str, ...] = ("g_a", "g_b", "d_a", "d_b")


def genotypes_from_json(text: str, source: str) -> dict[str, Genotype]:
    """The content of a genotypes.json: keys g_a, g_b and optionally d_a, d_b, each a genotype dict or a named
    genotype. The one parser of such files; errors name `source` (the file) and the key at fault."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GenotypeError(f"{source}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not {"g_a", "g_b"} <= data.keys() or not data.keys() <= set(NETWORK_NAMES):
        found = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise GenotypeError(
            f"{source}: a genotypes.json needs the keys g_a and g_b (and optionally d_a, d_b), got {found}"
        )
    genotypes = {}
    for name, value in data.items():
        try:
            genotypes[name] = named_genotype(value) if isinstance(value, str) else genotype_from_dict(value)
        except GenotypeError as exc:
            raise GenotypeError(f"{source}: {name}.{exc}") from None
    return genotypes


def genotype_from_json(text: str) -> Genotype:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GenotypeError(f"genotype JSON does not parse: {exc}") from exc
    return genotype_from_dict(data)


#: The official CycleGAN ResNet-9 generator: conv3x3 downsampling, 9 ResNet blocks, transposed-conv upsampling.
CYCLEGAN = GeneratorGenotype(
    encoding=("conv3x3", "conv3x3"),
    residual=(("conv3x3", "conv3x3"),) * 9,
    decoding=("trans_conv3x3", "trans_conv3x3"),
)
#: The point of the discriminator space nearest the official PatchGAN: conv4x4 everywhere. It is NOT that
#: network (nets.PatchGANDiscriminator, `discriminator: patchgan`): same parameter count, but a norm on the
#: first layer and a size-keeping stride-1 layer, so a 31x31 logit map at 256 px against the official 30x30.
PATCHGAN_POINT = DiscriminatorGenotype(cells=(("conv4x4", "conv4x4"), ("conv4x4", "conv4x4")))

NAMED_GENOTYPES: dict[str, Genotype] = {"cyclegan": CYCLEGAN, "patchgan_point": PATCHGAN_POINT}
#: Former names of named genotypes -> current ones. The platform always wrote genotypes as dicts, never by
#: name, so only hand-written genotype files and command lines can hold these; they still load, with a warning.
RENAMED_GENOTYPES = {"patchgan": "patchgan_point"}


def named_genotype(name: str) -> Genotype:
    if name in RENAMED_GENOTYPES:
        new = RENAMED_GENOTYPES[name]
        warnings.warn(
            f"the named genotype {name!r} is now {new!r} (a point of the search space, not the official "
            f"PatchGAN network, which is `discriminator: patchgan`); write {new!r}",
            FutureWarning,
            stacklevel=2,
        )
        name = new
    try:
        return NAMED_GENOTYPES[name]
    except KeyError:
        raise GenotypeError(f"unknown named genotype {name!r}; known: {sorted(NAMED_GENOTYPES)}") from None
