"""Assembly of one merged kernel from the linear members of a mixed op (docs/design.md §3.4)."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class KernelEmbedding:
    """Where a member's raw kernel lands in the merged kernel.

    `offset` is the tap index (in the merged kernel) of the raw kernel's first tap; a raw KxK kernel with
    `dilation` d covers taps offset, offset+d, ..., offset+d*(K-1). `block` > 1 means a 1x1 raw kernel is
    spread over a block x block square (avg_pool 2x2 + 1x1 conv; nearest x2 + 1x1 conv), scaled by `scale`.
    """

    offset: int
    dilation: int = 1
    block: int = 1
    scale: float = 1.0

    def taps(self, kernel_size: int) -> slice:
        if self.block > 1:
            return slice(self.offset, self.offset + self.block)
        end = self.offset + self.dilation * (kernel_size - 1) + 1
        return slice(self.offset, end, self.dilation)


class AssembleKernel(torch.autograd.Function):
    """K = sum_o beta_o * embed_o(W_o), saving only beta and the raw W_o for backward.

    Built with ordinary autograd ops, every zero-padded per-op kernel would stay alive until backward
    (each as large as an activation at batch 1); here backward slices the kernel gradient back apart.
    """

    @staticmethod
    def forward(ctx, beta, embeddings, size, *weights):  # noqa: D401 - autograd signature
        first = weights[0]
        kernel = first.new_zeros(first.shape[0], first.shape[1], size, size)
        for o, (emb, w) in enumerate(zip(embeddings, weights)):
            taps = emb.taps(w.shape[-1])
            kernel[:, :, taps, taps] += (beta[o] * emb.scale) * w
        ctx.embeddings = embeddings
        ctx.save_for_backward(beta, *weights)
        return kernel

    @staticmethod
    def backward(ctx, grad_kernel):
        beta, *weights = ctx.saved_tensors
        grad_beta = torch.zeros_like(beta) if ctx.needs_input_grad[0] else None
        grad_weights = []
        for o, (emb, w) in enumerate(zip(ctx.embeddings, weights)):
            taps = emb.taps(w.shape[-1])
            g = grad_kernel[:, :, taps, taps]
            if emb.block > 1:
                g = g.sum(dim=(2, 3), keepdim=True)
            g = g * emb.scale
            if grad_beta is not None:
                grad_beta[o] = (g * w).sum()
            grad_weights.append(g * beta[o] if ctx.needs_input_grad[3 + o] else None)
        return (grad_beta, None, None, *grad_weights)


def assemble_kernel(
    beta: torch.Tensor, embeddings: tuple[KernelEmbedding, ...], size: int, weights: list[torch.Tensor]
) -> torch.Tensor:
    """Merged kernel of `size` x `size` taps for mixing weights `beta` (one per member)."""
    return AssembleKernel.apply(beta, embeddings, size, *weights)


def _autocast_dtype(x: torch.Tensor) -> torch.dtype | None:
    """The dtype autocast gives convolutions on x's device, or None when autocast is off there."""
    device_type = x.device.type
    return torch.get_autocast_dtype(device_type) if torch.is_autocast_enabled(device_type) else None


class StrideOneConv(torch.autograd.Function):
    """conv2d(x, K, b) at stride 1 (x already padded), whose input gradient is a forward conv.

    On CPU, oneDNN's backward-data kernel for 9x9 filters is about 3x slower than a forward conv of the same
    size (65 ms vs 19 ms at 64 channels, 64x64); the input gradient of a stride-1 conv is exactly the
    forward conv of the zero-padded output gradient with the flipped, transposed kernel.
    """

    @staticmethod
    def forward(ctx, x, kernel, bias):
        dtype = _autocast_dtype(x)
        if dtype is not None:
            # backward runs outside the autocast block: saving the cast tensors keeps its convolutions in the
            # dtype autocast chose for the forward one (mixed float32/bfloat16 arguments would be refused)
            x, kernel = x.to(dtype), kernel.to(dtype)
            bias = bias.to(dtype) if bias is not None else None
        ctx.save_for_backward(x, kernel)
        ctx.has_bias = bias is not None
        return torch.nn.functional.conv2d(x, kernel, bias)

    @staticmethod
    def backward(ctx, grad_out):
        x, kernel = ctx.saved_tensors
        grad_x = grad_k = grad_b = None
        if ctx.needs_input_grad[0]:
            k = kernel.shape[-1]
            padded = torch.nn.functional.pad(grad_out, (k - 1,) * 4)
            grad_x = torch.nn.functional.conv2d(padded, kernel.flip(2, 3).transpose(0, 1))
        if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
            mask = [False, ctx.needs_input_grad[1], ctx.needs_input_grad[2] and ctx.has_bias]
            _, grad_k, grad_b = torch.ops.aten.convolution_backward(
                grad_out, x, kernel, [kernel.shape[0]], [1, 1], [0, 0], [1, 1], False, [0, 0], 1, mask
            )
        return grad_x, grad_k, grad_b
