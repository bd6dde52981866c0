"""Op sets S^e, S^r and S^d of the three cell types (paper §3.2, docs/design.md §2.1)."""

from __future__ import annotations

from enum import Enum


class CellType(str, Enum):
    """The paper's three cell types: encoding C^e, residual C^r and decoding C^d."""

    ENCODING = "e"
    RESIDUAL = "r"
    DECODING = "d"


#: S^e: each op halves H and W (stride 2; stride 1 in the discriminator's last op) and maps C_in -> C_out.
ENCODING_OPS: tuple[str, ...] = (
    "max_pool",
    "avg_pool",
    "conv3x3",
    "conv4x4",
    "conv5x5",
    "conv7x7",
    "dil_conv3x3",
    "dil_conv5x5",
)
#: S^r: stride 1, C -> C, reflection padding.
RESIDUAL_OPS: tuple[str, ...] = ("conv3x3", "conv5x5", "conv7x7", "dil_conv3x3", "dil_conv5x5")
#: S^d: x2 upsampling, C_in -> C_out.
DECODING_OPS: tuple[str, ...] = ("nearest", "bilinear", "trans_conv3x3")

#: The op set of each cell type: the built-in ones above, then any op registered since (ops.register_op), so
#: read it at use, not at import (mixed ops, genotype checks and the space size all do).
OP_SETS: dict[CellType, tuple[str, ...]] = {
    CellType.ENCODING: ENCODING_OPS,
    CellType.RESIDUAL: RESIDUAL_OPS,
    CellType.DECODING: DECODING_OPS,
}
BUILTIN_OPS: frozenset[str] = frozenset(ENCODING_OPS + RESIDUAL_OPS + DECODING_OPS)


def add_op_name(name: str, cell_types) -> None:
    """Append `name` to the op sets of `cell_types` (ops.register_op calls this with the op's factory)."""
    for cell_type in map(CellType, cell_types):
        if name in OP_SETS[cell_type]:
            raise KeyError(f"op {name!r} is already in S^{cell_type.value}")
    for cell_type in map(CellType, cell_types):
        OP_SETS[cell_type] = OP_SETS[cell_type] + (name,)


def remove_op_name(name: str) -> None:
    """Take an op registered at run time out of every op set; the built-in ops stay."""
    if name in BUILTIN_OPS:
        raise KeyError(f"op {name!r} is built in and cannot be removed")
    for cell_type, ops in OP_SETS.items():
        OP_SETS[cell_type] = tuple(op for op in ops if op != name)


#: Every cell is two operations in sequence.
OPS_PER_CELL = 2
