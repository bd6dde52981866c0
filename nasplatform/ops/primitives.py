"""Candidate ops of S^e, S^r and S^d, built through one name -> factory table with one signature."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from nasplatform.space.opsets import OP_SETS, CellType, add_op_name, remove_op_name


@dataclass(frozen=True)
class LinearForm:
    """How a linear op is one convolution on its mixed op's common output grid.

    `family` is "conv" (output i anchored at input i*stride) or "conv_transpose" (x2 upsampling by a 3x3
    stride-2 transposed conv, padding 1). `first_tap` is the offset of the op's first tap from the anchor.
    """

    family: str
    first_tap: int
    dilation: int = 1
    block: int = 1
    scale: float = 1.0


class CandidateOp(nn.Module):
    """An op with a learnable `weight` and `bias`; `linear_form()` is None when it is not one convolution."""

    weight: nn.Parameter
    bias: nn.Parameter

    def linear_form(self) -> LinearForm | None:
        return None

    def kernel(self) -> torch.Tensor:
        """The weight in the layout of its merge family (conv: out,in,k,k; conv_transpose: in,out,k,k)."""
        return self.weight


def _conv_params(module: nn.Module, c_in: int, c_out: int, k: int) -> None:
    module.weight = nn.Parameter(torch.empty(c_out, c_in, k, k))
    module.bias = nn.Parameter(torch.empty(c_out))
    nn.init.kaiming_uniform_(module.weight, a=math.sqrt(5))
    bound = 1.0 / math.sqrt(c_in * k * k)
    nn.init.uniform_(module.bias, -bound, bound)


class ConvOp(CandidateOp):
    """KxK conv (dilation 1 or 2) that keeps size at stride 1 and halves it at stride 2.

    Even extents at stride 1 pad one more on the right/bottom so the size is kept (docs/design.md §2.1).
    """

    def __init__(self, c_in: int, c_out: int, kernel_size: int, dilation: int, stride: int, padding_mode: str):
        super().__init__()
        _conv_params(self, c_in, c_out, kernel_size)
        self.kernel_size, self.dilation, self.stride, self.padding_mode = kernel_size, dilation, stride, padding_mode
        extent = dilation * (kernel_size - 1) + 1
        self.pad_left = (extent - 1) // 2
        self.pad_right = extent - 1 - self.pad_left if stride == 1 else self.pad_left

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = (self.pad_left, self.pad_right, self.pad_left, self.pad_right)
        x = F.pad(x, pads, mode=self.padding_mode)
        return F.conv2d(x, self.weight, self.bias, stride=self.stride, dilation=self.dilation)

    def linear_form(self) -> LinearForm:
        return LinearForm("conv", -self.pad_left, dilation=self.dilation)


class PoolOp(CandidateOp):
    """2x2 max or average pooling (stride 2, or stride 1 with one extra row/column) then a 1x1 conv C_in -> C_out."""

    def __init__(self, kind: str, c_in: int, c_out: int, stride: int):
        super().__init__()
        if kind not in ("max", "avg"):
            raise ValueError(f"pool kind must be 'max' or 'avg', got {kind!r}")
        _conv_params(self, c_in, c_out, 1)
        self.kind, self.stride = kind, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            # replicate keeps the max unchanged; zeros keep avg a linear map with a fixed 1/4 weight
            x = F.pad(x, (0, 1, 0, 1), mode="replicate" if self.kind == "max" else "constant")
        pool = F.max_pool2d if self.kind == "max" else F.avg_pool2d
        return F.conv2d(pool(x, 2, self.stride), self.weight, self.bias)

    def linear_form(self) -> LinearForm | None:
        if self.kind == "max":
            return None
        return LinearForm("conv", 0, block=2, scale=0.25)


class UpsampleOp(CandidateOp):
    """x2 nearest or bilinear interpolation then a 1x1 conv C_in -> C_out."""

    def __init__(self, mode: str, c_in: int, c_out: int):
        super().__init__()
        if mode not in ("nearest", "bilinear"):
            raise ValueError(f"upsampling mode must be 'nearest' or 'bilinear', got {mode!r}")
        _conv_params(self, c_in, c_out, 1)
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        align = False if self.mode == "bilinear" else None
        x = F.interpolate(x, scale_factor=2, mode=self.mode, align_corners=align)
        return F.conv2d(x, self.weight, self.bias)

    def linear_form(self) -> LinearForm | None:
        if self.mode == "bilinear":
            return None  # linear, but its border clamping is not zero padding
        # nearest x2 + 1x1 == 3x3 stride-2 transposed conv with W on taps {1,2} x {1,2}
        return LinearForm("conv_transpose", 0, block=2)

    def kernel(self) -> torch.Tensor:
        return self.weight.transpose(0, 1)


class TransConvOp(CandidateOp):
    """3x3 stride-2 transposed conv (padding 1, output padding 1), as in CycleGAN's decoder."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(c_in, c_out, 3, 3))
        self.bias = nn.Parameter(torch.empty(c_out))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        nn.init.uniform_(self.bias, -1.0 / math.sqrt(c_out * 9), 1.0 / math.sqrt(c_out * 9))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv_transpose2d(x, self.weight, self.bias, stride=2, padding=1, output_padding=1)

    def linear_form(self) -> LinearForm:
        return LinearForm("conv_transpose", -1)


#: One signature for every op: (c_in, c_out, stride, padding_mode) -> module.
OpFactory = Callable[[int, int, int, str], CandidateOp]


def _conv(kernel_size: int, dilation: int = 1) -> OpFactory:
    return lambda c_in, c_out, stride, padding_mode: ConvOp(c_in, c_out, kernel_size, dilation, stride, padding_mode)


def _pool(kind: str) -> OpFactory:
    return lambda c_in, c_out, stride, padding_mode: PoolOp(kind, c_in, c_out, stride)


def _upsample(mode: str) -> OpFactory:
    return lambda c_in, c_out, stride, padding_mode: UpsampleOp(mode, c_in, c_out)


OPS: dict[str, OpFactory] = {
    "max_pool": _pool("max"),
    "avg_pool": _pool("avg"),
    "conv3x3": _conv(3),
    "conv4x4": _conv(4),
    "conv5x5": _conv(5),
    "conv7x7": _conv(7),
    "dil_conv3x3": _conv(3, dilation=2),
    "dil_conv5x5": _conv(5, dilation=2),
    "nearest": _upsample("nearest"),
    "bilinear": _upsample("bilinear"),
    "trans_conv3x3": lambda c_in, c_out, stride, padding_mode: TransConvOp(c_in, c_out),
}


def register_op(name: str, factory: OpFactory, cell_types) -> None:
    """Make op `name` (built by `factory`, the one OpFactory signature) a candidate of the cell types given: every
    mixed op, genotype check and discrete network built afterwards knows it. Residual ops must keep channels."""
    if name in OPS:
        raise KeyError(f"op {name!r} is already registered")
    add_op_name(name, cell_types)
    OPS[name] = factory


def unregister_op(name: str) -> None:
    """Remove an op registered at run time (tests and plug-ins clean up with this); built-in ops stay."""
    remove_op_name(name)
    OPS.pop(name, None)


#: Residual cells pad by reflection like CycleGAN's ResNet blocks; encoding convs pad with zeros.
PADDING_MODE: dict[CellType, str] = {
    CellType.ENCODING: "constant",
    CellType.RESIDUAL: "reflect",
    CellType.DECODING: "constant",
}


def op_stride(cell_type: CellType) -> int:
    """Default stride of a cell type's ops: 2 for S^e, 1 for S^r; S^d ops always upsample x2."""
    return 2 if cell_type == CellType.ENCODING else 1


def build_op(name: str, c_in: int, c_out: int, cell_type: CellType, stride: int | None = None) -> CandidateOp:
    """Build op `name` of a `cell_type` cell; the op must belong to that cell type's op set."""
    cell_type = CellType(cell_type)
    if name not in OP_SETS[cell_type]:
        raise KeyError(f"op {name!r} is not in S^{cell_type.value}: {list(OP_SETS[cell_type])}")
    if cell_type == CellType.RESIDUAL and c_in != c_out:
        raise ValueError(f"residual ops keep channels, got {c_in} -> {c_out}")
    stride = op_stride(cell_type) if stride is None else stride
    return OPS[name](c_in, c_out, stride, PADDING_MODE[cell_type])
