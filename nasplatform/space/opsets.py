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

OP_SETS: dict[CellType, tuple[str, ...]] = {
    CellType.ENCODING: ENCODING_OPS,
    CellType.RESIDUAL: RESIDUAL_OPS,
    CellType.DECODING: DECODING_OPS,
}

#: Every cell is two operations in sequence.
OPS_PER_CELL = 2
