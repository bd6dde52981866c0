"""Layers of the search space: candidate ops, merged-kernel mixed ops and cells (imports no network)."""

from nasplatform.ops.cells import Cell, ResidualCell, activation_for, norm
from nasplatform.ops.mixed import MIXED_OP_MODES, MixedOp
from nasplatform.ops.primitives import OPS, OpFactory, build_op, op_stride, register_op, unregister_op

__all__ = [
    "OPS",
    "OpFactory",
    "build_op",
    "register_op",
    "unregister_op",
    "op_stride",
    "MIXED_OP_MODES",
    "MixedOp",
    "Cell",
    "ResidualCell",
    "activation_for",
    "norm",
]
