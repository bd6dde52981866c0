"""Cells: two ops in sequence, each followed by InstanceNorm and the network's activation."""

from __future__ import annotations

import torch
from torch import nn


def norm(channels: int) -> nn.Module:
    """CycleGAN's InstanceNorm without affine parameters."""
    return nn.InstanceNorm2d(channels, affine=False)


def activation_for(kind: str) -> nn.Module:
    """ReLU in generators, LeakyReLU(0.2) in discriminators."""
    if kind == "generator":
        return nn.ReLU(inplace=False)
    if kind == "discriminator":
        return nn.LeakyReLU(0.2, inplace=False)
    raise ValueError(f"network kind must be 'generator' or 'discriminator', got {kind!r}")


class Cell(nn.Module):
    """Encoding C^e or decoding C^d cell: act(norm(op2(act(norm(op1(x))))))."""

    def __init__(self, op1: nn.Module, op2: nn.Module, c_mid: int, c_out: int, kind: str):
        super().__init__()
        self.op1, self.norm1, self.act1 = op1, norm(c_mid), activation_for(kind)
        self.op2, self.norm2, self.act2 = op2, norm(c_out), activation_for(kind)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act1(self.norm1(self.op1(x)))
        return self.act2(self.norm2(self.op2(x)))


class ResidualCell(nn.Module):
    """Residual cell C^r: x + norm(op2(act(norm(op1(x))))), like a CycleGAN ResNet block."""

    def __init__(self, op1: nn.Module, op2: nn.Module, channels: int):
        super().__init__()
        self.op1, self.norm1, self.act1 = op1, norm(channels), activation_for("generator")
        self.op2, self.norm2 = op2, norm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.norm2(self.op2(self.act1(self.norm1(self.op1(x)))))
