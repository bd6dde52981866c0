"""The GPU path's switches (channels_last, bf16 autocast, torch.compile, cudnn.benchmark) and how to apply them.

How a step uses them (search and retrain alike):

    configure_backends(cfg.accel, cfg.device)            # once, before the first step
    prepare_networks(nets, cfg.accel, cfg.device)        # once, before the optimizers are built
    real_a, real_b = to_memory_format(real_a, cfg.accel), to_memory_format(real_b, cfg.accel)
    with autocast(cfg.accel, cfg.device):                # the forward passes and the loss terms
        ...
    loss.backward()                                      # outside the autocast block

Losses stay in float32 although they are computed inside the autocast block: `prepare_networks` casts every
network's output back to float32, and autocast runs the loss ops themselves (l1_loss, mse_loss,
binary_cross_entropy_with_logits, sums) in their inputs' dtype, since none of them is on its lower-precision
list. Only the networks' convolutions run in bfloat16.
"""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager as ContextManager
from typing import Any

import torch
from torch import nn

from nasplatform.engine.config import AccelConfig  # noqa: F401  (re-exported: the section lives with the configs)
from nasplatform.nets.build import CycleGANNetworks

#: Marks a network whose output hook is registered, so that preparing it twice does not stack hooks.
_FP32_HOOK_ATTR = "_accel_fp32_output_hook"


def _device(device: str | torch.device) -> torch.device:
    return device if isinstance(device, torch.device) else torch.device(device)


def configure_backends(accel: AccelConfig, device: str | torch.device) -> None:
    """Set the process-wide backend flags `accel` asks for on `device`; refuse bf16 where the GPU lacks it."""
    device = _device(device)
    if device.type != "cuda":
        return
    if accel.bf16 and not torch.cuda.is_bf16_supported():
        raise ValueError(f"accel.bf16: {torch.cuda.get_device_name(device)} does not support bfloat16")
    torch.backends.cudnn.benchmark = accel.cudnn_benchmark


def _output_to_fp32(module: nn.Module, args: Any, output: Any) -> Any:
    """Forward hook: a network's floating-point output back in float32, so losses never see bf16."""
    if isinstance(output, torch.Tensor) and output.is_floating_point() and output.dtype != torch.float32:
        return output.float()
    return output


def prepare_network(net: nn.Module, accel: AccelConfig, device: str | torch.device) -> nn.Module:
    """Move one network to `device` and apply channels_last, the float32-output hook and compilation in place."""
    net.to(_device(device))
    if accel.channels_last:
        net.to(memory_format=torch.channels_last)
    if accel.bf16 and getattr(net, _FP32_HOOK_ATTR, None) is None:
        setattr(net, _FP32_HOOK_ATTR, net.register_forward_hook(_output_to_fp32))
    if accel.compile:
        # nn.Module.compile keeps the module object and its state-dict keys (torch.compile(net) would wrap it)
        net.compile()
    return net


def prepare_networks(nets: CycleGANNetworks, accel: AccelConfig, device: str | torch.device) -> CycleGANNetworks:
    """Prepare G_A, G_B, D_A and D_B alike; call before building the optimizers (parameters keep their identity)."""
    for _, net in nets.items():
        prepare_network(net, accel, device)
    return nets


def to_memory_format(x: torch.Tensor, accel: AccelConfig) -> torch.Tensor:
    """An input batch in the memory format the networks expect (NHWC when channels_last is on)."""
    if accel.channels_last and x.dim() == 4:
        return x.contiguous(memory_format=torch.channels_last)
    return x


def autocast(accel: AccelConfig, device: str | torch.device) -> ContextManager:
    """bf16 autocast on `device` when `accel.bf16`, else a context that changes nothing.

    Wrap the forward passes and the loss computation, not `backward()`; see the module docstring for why the
    losses are float32 inside it.
    """
    if not accel.bf16:
        return contextlib.nullcontext()
    return torch.autocast(device_type=_device(device).type, dtype=torch.bfloat16)


def in_memory_format(batch: dict | None, cfg) -> dict | None:
    """A batch's images in the memory format `cfg.accel` gives the networks (NHWC under channels_last)."""
    return None if batch is None else {k: to_memory_format(v, cfg.accel) for k, v in batch.items()}
