"""DARTS mixed op o_bar(x) = sum_o softmax(alpha)_o * o(x), run as one merged convolution by default."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nasplatform.ops.merged import KernelEmbedding, StrideOneConv, assemble_kernel
from nasplatform.ops.primitives import PADDING_MODE, CandidateOp, build_op, op_stride
from nasplatform.space.opsets import OP_SETS, CellType

#: "merged": linear members run as ONE convolution with kernel sum_o beta_o * pad(K_o) (docs/design.md §3.4);
#: "reference": the plain weighted sum of every member's output.
MIXED_OP_MODES = ("merged", "reference")


class MixedOp(nn.Module):
    """One searchable op slot: every candidate of its cell type's op set plus its architecture parameter.

    `alpha` (the paper's alpha for this slot, one entry per candidate op) is initialised as 1e-3 * randn as in
    DARTS; `ops[name]` holds each candidate with its own weights, named so a discrete network built from the
    derived genotype can take them over.
    """

    def __init__(self, cell_type: CellType, c_in: int, c_out: int, stride: int | None = None, mode: str = "merged"):
        super().__init__()
        self.cell_type = CellType(cell_type)
        self.op_names: tuple[str, ...] = OP_SETS[self.cell_type]
        self.stride = op_stride(self.cell_type) if stride is None else stride
        self.ops = nn.ModuleDict(
            {name: build_op(name, c_in, c_out, self.cell_type, self.stride) for name in self.op_names}
        )
        self.alpha = nn.Parameter(1e-3 * torch.randn(len(self.op_names)))
        self.mode = mode
        #: Gumbel-softmax temperature; None mixes with the plain softmax.
        self.tau: float | None = None
        #: The candidate this slot was fixed to by a greedy decision (engine/search.decide_mixed_ops), or None while
        #: it still mixes. A decided slot runs that candidate alone and its alpha gets no more gradient.
        self.decided: str | None = None
        self._plan = self._merge_plan()

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, mode: str) -> None:
        if mode not in MIXED_OP_MODES:
            raise ValueError(f"mixed-op mode must be one of {MIXED_OP_MODES}, got {mode!r}")
        self._mode = mode

    def mixing_weights(self) -> torch.Tensor:
        """softmax(alpha), or a Gumbel-softmax sample at temperature `tau`."""
        if self.tau is not None and self.training:
            return F.gumbel_softmax(self.alpha, tau=self.tau, hard=False)
        return F.softmax(self.alpha, dim=-1)

    def derive(self) -> str:
        """The decided candidate, else the one with the largest alpha."""
        if self.decided is not None:
            return self.decided
        return self.op_names[int(torch.argmax(self.alpha.detach()))]

    def decide(self, name: str) -> None:
        """Fix this slot to candidate `name` for the rest of the search."""
        if name not in self.op_names:
            raise ValueError(f"{name!r} is not a candidate of this {self.cell_type.value} slot: {self.op_names}")
        self.decided = name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.decided is not None:
            return self.ops[self.decided](x)
        weights = self.mixing_weights()
        if self._mode == "reference":
            return sum(w * self.ops[name](x) for w, name in zip(weights, self.op_names))
        return self._merged_forward(x, weights)

    def _merge_plan(self) -> dict:
        linear, other, family = [], [], None
        for i, name in enumerate(self.op_names):
            form = self.ops[name].linear_form()
            if form is None:
                other.append(i)
                continue
            family = form.family
            linear.append((i, form))
        firsts = [f.first_tap for _, f in linear]
        lasts = [
            f.first_tap
            + (f.block - 1 if f.block > 1 else f.dilation * (self.ops[self.op_names[i]].kernel().shape[-1] - 1))
            for i, f in linear
        ]
        lo, hi = min(firsts), max(lasts)
        embeddings = tuple(KernelEmbedding(f.first_tap - lo, f.dilation, f.block, f.scale) for _, f in linear)
        return {
            "linear": tuple(i for i, _ in linear),
            "other": tuple(other),
            "family": family,
            "embeddings": embeddings,
            "size": hi - lo + 1,
            "pad_left": -lo,
            "last_tap": hi,
            "padding_mode": PADDING_MODE[self.cell_type],
        }

    def _merged_forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        plan = self._plan
        idx = torch.tensor(plan["linear"], device=weights.device)
        beta = weights.index_select(0, idx)
        members: list[CandidateOp] = [self.ops[self.op_names[i]] for i in plan["linear"]]
        kernel = assemble_kernel(beta, plan["embeddings"], plan["size"], [m.kernel() for m in members])
        bias = beta @ torch.stack([m.bias for m in members])
        if plan["family"] == "conv_transpose":
            # all members share the 3x3 stride-2 grid of padding 1 (checked by the op-sweep tests)
            out = F.conv_transpose2d(x, kernel, bias, stride=2, padding=1, output_padding=1)
        else:
            out = self._merged_conv(x, kernel, bias)
        for i in plan["other"]:
            out = out + weights[i] * self.ops[self.op_names[i]](x)
        return out

    def _merged_conv(self, x: torch.Tensor, kernel: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        plan, s = self._plan, self.stride
        size = x.shape[-1]
        # right padding so the last output (anchored at (size//s - 1)*s) sees its last tap
        pad_right = (size // s - 1) * s + plan["last_tap"] - (size - 1)
        if s == 1 and plan["padding_mode"] == "constant" and pad_right == plan["pad_left"]:
            # zero padding inside the convolution: no padded copy of x, and the input gradient covers x alone, not
            # the padded frame StrideOneConv would compute (-11% fwd+bwd of a discriminator supernet, see
            # PERFORMANCE.md); at stride 2 oneDNN's padded kernels were slower than padding first, so those stay
            return F.conv2d(x, kernel, bias, padding=plan["pad_left"])
        pads = (plan["pad_left"], pad_right, plan["pad_left"], pad_right)
        x = F.pad(x, pads, mode=plan["padding_mode"])
        if s == 1:
            return StrideOneConv.apply(x, kernel, bias)
        return F.conv2d(x, kernel, bias, stride=s)
