"""Sweep over every registered op in every cell type it belongs to; merged mixed op == reference."""

import pytest
import torch

from nasplatform.ops import MixedOp, build_op
from nasplatform.ops.merged import AssembleKernel
from nasplatform.space import OP_SETS, CellType

OP_CASES = [(ct, name) for ct in CellType for name in OP_SETS[ct]]
# (cell type, stride): the discriminator's last encoding op runs at stride 1
MIXED_CASES = [(CellType.ENCODING, 2), (CellType.ENCODING, 1), (CellType.RESIDUAL, 1), (CellType.DECODING, 1)]


def _channels(ct):
    return (5, 5) if ct == CellType.RESIDUAL else (4, 6)


@pytest.mark.parametrize("ct, name", OP_CASES, ids=[f"{c.value}-{n}" for c, n in OP_CASES])
@pytest.mark.parametrize("size", [8, 16])
def test_op_shapes(ct, name, size):
    c_in, c_out = _channels(ct)
    op = build_op(name, c_in, c_out, ct)
    y = op(torch.randn(2, c_in, size, size))
    expected = {CellType.ENCODING: size // 2, CellType.RESIDUAL: size, CellType.DECODING: size * 2}[ct]
    assert y.shape == (2, c_out, expected, expected)


@pytest.mark.parametrize("name", OP_SETS[CellType.ENCODING])
def test_encoding_ops_at_stride_one_keep_size(name):
    op = build_op(name, 4, 6, CellType.ENCODING, stride=1)
    assert op(torch.randn(1, 4, 8, 8)).shape == (1, 6, 8, 8)


def test_op_outside_its_set_is_refused():
    with pytest.raises(KeyError, match="not in S\\^r"):
        build_op("max_pool", 4, 4, CellType.RESIDUAL)
    with pytest.raises(ValueError, match="keep channels"):
        build_op("conv3x3", 4, 6, CellType.RESIDUAL)


def test_residual_ops_reflect_pad():
    op = build_op("conv3x3", 1, 1, CellType.RESIDUAL)
    with torch.no_grad():
        op.weight.fill_(1.0)
        op.bias.zero_()
    # a constant image stays constant with reflection padding (zero padding would darken the border)
    assert torch.allclose(op(torch.ones(1, 1, 6, 6)), torch.full((1, 1, 6, 6), 9.0))


def _grads(op, x, mode):
    op.mode = mode
    y = op(x)
    loss = (y * torch.linspace(-1, 1, y.numel()).view_as(y)).sum()
    return y, torch.autograd.grad(loss, [x, *op.parameters()])


def _rel(a, b):
    return ((a - b).norm() / b.norm().clamp_min(1e-12)).item()


@pytest.mark.parametrize("ct, stride", MIXED_CASES, ids=[f"{c.value}-s{s}" for c, s in MIXED_CASES])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_merged_equals_reference(ct, stride, seed):
    torch.manual_seed(seed)
    c_in, c_out = (6, 6) if ct == CellType.RESIDUAL else (5, 7)
    op = MixedOp(ct, c_in, c_out, stride=stride)
    with torch.no_grad():
        op.alpha.normal_(0, 1.5)  # random, far from uniform
    x = torch.randn(2, c_in, 16, 16, requires_grad=True)
    y_m, g_m = _grads(op, x, "merged")
    y_r, g_r = _grads(op, x, "reference")
    assert _rel(y_m, y_r) <= 1e-4
    names = ["x"] + [n for n, _ in op.named_parameters()]
    for name, a, b in zip(names, g_m, g_r):
        assert _rel(a, b) <= 1e-4, name
    assert g_m[names.index("alpha")].abs().sum() > 0  # alpha does receive gradient


def test_assemble_kernel_saves_only_mixing_weights_and_raw_kernels():
    op = MixedOp(CellType.RESIDUAL, 8, 8)
    plan = op._plan
    members = [op.ops[op.op_names[i]] for i in plan["linear"]]
    beta = torch.softmax(op.alpha, 0)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        AssembleKernel.apply(beta, plan["embeddings"], plan["size"], *[m.kernel() for m in members])
    assert len(saved) == 1 + len(members)
    assert sum(t.numel() for t in saved) == beta.numel() + sum(m.weight.numel() for m in members)


def test_merged_kernel_size_and_members():
    op = MixedOp(CellType.ENCODING, 4, 4)
    assert op._plan["size"] == 9  # dil_conv5x5 spans 9 taps
    assert [op.op_names[i] for i in op._plan["other"]] == ["max_pool"]
    dec = MixedOp(CellType.DECODING, 4, 4)
    assert dec._plan["size"] == 3 and [dec.op_names[i] for i in dec._plan["other"]] == ["bilinear"]


def test_gumbel_weights_are_a_distribution_and_vary():
    op = MixedOp(CellType.RESIDUAL, 4, 4)
    op.tau = 1.0
    w1, w2 = op.mixing_weights(), op.mixing_weights()
    assert torch.allclose(w1.sum(), torch.tensor(1.0)) and not torch.allclose(w1, w2)
    op.eval()
    assert torch.allclose(op.mixing_weights(), torch.softmax(op.alpha, 0))


def test_stride_one_conv_gradients_match_native():
    from nasplatform.ops.merged import StrideOneConv

    x = torch.randn(1, 3, 9, 9, dtype=torch.double, requires_grad=True)
    k = torch.randn(4, 3, 5, 5, dtype=torch.double, requires_grad=True)
    b = torch.randn(4, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(StrideOneConv.apply, (x, k, b))
