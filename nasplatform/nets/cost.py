"""Model size and cost: parameters, MB (fp32) and MACs per image from torch's own flop counter."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


@dataclass(frozen=True)
class ModelCost:
    """params: parameter count (alphas excluded); mb = 4 bytes * params / 1e6; macs per image at image_size."""

    params: int
    mb: float
    macs: int
    image_size: int

    def to_dict(self) -> dict:
        return asdict(self)


def count_params(net: nn.Module) -> int:
    """Parameters of a network; a supernet's alphas are not part of its size."""
    arch = {id(p) for p in getattr(net, "arch_parameters", list)()}
    return sum(p.numel() for p in net.parameters() if id(p) not in arch)


def size_mb(params: int) -> float:
    return 4 * params / 1e6


@torch.no_grad()
def count_macs(net: nn.Module, image_size: int) -> int:
    """Multiply-accumulates of one forward pass on a 1x3xSxS image (FLOPs / 2 as counted by torch)."""
    param = next(net.parameters())
    x = torch.zeros(1, 3, image_size, image_size, dtype=param.dtype, device=param.device)
    was_training = net.training
    net.eval()
    try:
        with FlopCounterMode(display=False) as counter:
            net(x)
    finally:
        net.train(was_training)
    return int(counter.get_total_flops() // 2)


def model_cost(net: nn.Module, image_size: int) -> ModelCost:
    params = count_params(net)
    return ModelCost(params=params, mb=size_mb(params), macs=count_macs(net, image_size), image_size=image_size)
