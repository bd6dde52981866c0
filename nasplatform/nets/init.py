"""CycleGAN's weight initialisation: N(0, 0.02) for every conv weight, zero biases."""

from __future__ import annotations

import torch
from torch import nn

from nasplatform.ops.primitives import CandidateOp


@torch.no_grad()
def init_cyclegan_weights(net: nn.Module, gain: float = 0.02) -> nn.Module:
    """As `init_weights(net, 'normal', 0.02)` in the official code; architecture parameters are untouched."""
    for module in net.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, CandidateOp)):
            module.weight.normal_(0.0, gain)
            if module.bias is not None:
                module.bias.zero_()
    return net
