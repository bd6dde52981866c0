"""The official CycleGAN 70x70 PatchGAN discriminator (NLayerDiscriminator, n_layers=3), the baseline D."""

from __future__ import annotations

import torch
from torch import nn

from nasplatform.nets.init import init_cyclegan_weights
from nasplatform.ops.cells import norm


class PatchGANDiscriminator(nn.Module):
    """conv4x4 s2 3->D, LReLU; (conv4x4 s2, IN, LReLU) x2; conv4x4 s1 4D->8D, IN, LReLU; conv4x4 s1 8D->1.

    InstanceNorm has no affine parameters, so the convs keep their biases as in the official code.
    """

    kind = "discriminator"

    def __init__(self, ndf: int = 64, n_layers: int = 3):
        super().__init__()
        self.ndf = ndf
        layers: list[nn.Module] = [nn.Conv2d(3, ndf, 4, 2, 1), nn.LeakyReLU(0.2)]
        mult = 1
        for n in range(1, n_layers):
            prev, mult = mult, min(2**n, 8)
            layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, 2, 1), norm(ndf * mult), nn.LeakyReLU(0.2)]
        prev, mult = mult, min(2**n_layers, 8)
        layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, 1, 1), norm(ndf * mult), nn.LeakyReLU(0.2)]
        layers += [nn.Conv2d(ndf * mult, 1, 4, 1, 1)]
        self.model = nn.Sequential(*layers)
        init_cyclegan_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)
