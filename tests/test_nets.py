"""Supernets, discrete networks (one-hot supernet == derived network), parameter parity with official CycleGAN, cost."""

import pytest
import torch
from torch import nn

from nasplatform.nets import (
    Discriminator,
    DiscriminatorSupernet,
    Generator,
    GeneratorSupernet,
    PatchGANDiscriminator,
    count_macs,
    count_params,
    model_cost,
)
from nasplatform.nets.build import NETWORK_NAMES, build_discrete, build_supernets, load_genotypes
from nasplatform.nets.layout import genotype_op
from nasplatform.space import DiscriminatorGenotype, GeneratorGenotype, named_genotype


@pytest.mark.parametrize("hidden_dim, params", [(64, 11_378_179), (32, 2_850_563), (16, 715_651)])
def test_cyclegan_generator_parity(hidden_dim, params):
    assert count_params(Generator(named_genotype("cyclegan"), hidden_dim)) == params


def test_patchgan_parity():
    assert count_params(PatchGANDiscriminator(64)) == 2_764_737
    assert count_params(Discriminator(named_genotype("patchgan_point"), 64)) == 2_764_737


#: Every way a run builds its four networks (nets/build.py): the supernets of a search, and the discrete
#: networks of a retrain with the official PatchGAN or the searched discriminators.
BUILDS = {
    "search": lambda: build_supernets(3, 4, 4, "merged"),
    "retrain_patchgan": lambda: build_discrete(load_genotypes("cyclegan"), 4, 4, 4, "patchgan"),
    "retrain_searched": lambda: build_discrete(load_genotypes("cyclegan"), 4, 4, 4, "searched"),
}


@pytest.mark.parametrize("build", sorted(BUILDS))
def test_every_network_a_run_builds(build):
    nets = BUILDS[build]()
    assert [name for name, _ in nets.items()] == list(NETWORK_NAMES)
    for name, net in nets.items():
        x = torch.randn(2, 3, 32, 32)
        y = net(x)
        if name.startswith("g_"):
            assert y.shape == x.shape and y.abs().max() <= 1
        else:
            assert y.shape[:2] == (2, 1) and y.shape[-1] >= 2
        y.mean().backward()
        assert all(p.grad is not None for p in net.parameters()), name
        assert hasattr(net, "arch_parameters") == (build == "search"), name


@pytest.mark.parametrize("size", [32, 64, 256])
def test_generator_supernet_sizes(size):
    net = GeneratorSupernet(n_cells=3 if size == 256 else 5, hidden_dim=2)
    with torch.no_grad():
        assert net(torch.randn(1, 3, size, size)).shape == (1, 3, size, size)


@pytest.mark.parametrize("size", [32, 64, 256])
def test_discriminator_supernet_sizes(size):
    net = DiscriminatorSupernet(ndf=2)
    with torch.no_grad():
        out = net(torch.randn(1, 3, size, size))
    assert out.shape == (1, 1, size // 8 - 1, size // 8 - 1)


def test_arch_and_weight_parameters_are_apart():
    net = GeneratorSupernet(n_cells=4, hidden_dim=2)
    arch, weights = net.arch_parameters(), net.weight_parameters()
    assert len(arch) == 2 * 4
    assert {id(p) for p in arch}.isdisjoint({id(p) for p in weights})
    assert len(arch) + len(weights) == len(list(net.parameters()))
    assert all(p.numel() in (8, 5, 3) for p in arch)
    assert count_params(net) == sum(p.numel() for p in weights)


@torch.no_grad()
def inherit_weights(discrete: nn.Module, supernet: nn.Module) -> nn.Module:
    """Copy into `discrete` the weights of the ops its genotype chose, and the fixed stem/head, from `supernet`.

    Mixed-op candidates live at `<slot path>.ops.<name>` in the supernet and the chosen op at `<slot path>` in
    the discrete network, so the copy is a renaming of state-dict keys (retraining starts from scratch,
    docs/design.md §5.1: this only checks that both networks compute the same thing).
    """
    if discrete.kind != supernet.kind or len(discrete.slots) != len(supernet.slots):
        raise ValueError("the discrete network and the supernet do not share a layout")
    chosen = {s.path: genotype_op(discrete.genotype, s) for s in discrete.slots}
    state = {}
    for key, value in supernet.state_dict().items():
        if key.endswith(".alpha"):
            continue
        if ".ops." in key:
            path, rest = key.split(".ops.", 1)
            name, param = rest.split(".", 1)
            if chosen[path] != name:
                continue
            key = f"{path}.{param}"
        state[key] = value
    discrete.load_state_dict(state, strict=True)
    return discrete


def _set_alphas(net, choose):
    """Alphas that are one-hot after softmax (exp(-1e4) underflows to exactly 0 in fp32)."""
    with torch.no_grad():
        for slot, op in net.mixed_ops():
            op.alpha.fill_(-1e4)
            op.alpha[op.op_names.index(choose(slot, op))] = 0.0


def test_derive_is_argmax_and_mixing_table():
    net = GeneratorSupernet(n_cells=4, hidden_dim=2)
    _set_alphas(net, lambda slot, op: op.op_names[-1])
    g = net.derive()
    assert isinstance(g, GeneratorGenotype) and g.n_cells == 4
    assert g.encoding == ("dil_conv5x5", "dil_conv5x5") and g.decoding == ("trans_conv3x3",) * 2
    table = net.mixing_table()
    assert len(table) == 2 * 8 + 4 * 5 + 2 * 3
    chosen = [r for r in table if r["weight"] == 1.0]
    assert len(chosen) == 8 and {r["mixed_op"] for r in chosen} == {s.id for s in net.slots}
    d = DiscriminatorSupernet(ndf=2)
    _set_alphas(d, lambda slot, op: "avg_pool")
    assert d.derive() == DiscriminatorGenotype(cells=(("avg_pool",) * 2,) * 2)


@pytest.mark.parametrize("mode", ["merged", "reference"])
def test_inherited_discrete_generator_equals_one_hot_supernet(mode):
    torch.manual_seed(0)
    net = GeneratorSupernet(n_cells=4, hidden_dim=3, mode=mode)
    options = {"e": ["max_pool", "conv4x4"], "r": ["dil_conv3x3", "conv7x7"], "d": ["bilinear", "nearest"]}
    _set_alphas(net, lambda slot, op: options[slot.cell_type.value][slot.position])
    discrete = inherit_weights(Generator(net.derive(), hidden_dim=3), net)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(net(x), discrete(x), atol=1e-5)


def test_inherited_discrete_discriminator_equals_one_hot_supernet():
    torch.manual_seed(1)
    net = DiscriminatorSupernet(ndf=3)
    options = ["conv4x4", "avg_pool", "dil_conv5x5", "max_pool"]
    _set_alphas(net, lambda slot, op: options[2 * slot.cell + slot.position])
    discrete = inherit_weights(Discriminator(net.derive(), ndf=3), net)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(net(x), discrete(x), atol=1e-5)


def test_inherit_refuses_other_layout():
    with pytest.raises(ValueError, match="layout"):
        inherit_weights(Generator(named_genotype("cyclegan"), 2), GeneratorSupernet(n_cells=4, hidden_dim=2))


def test_supernet_merged_equals_reference_whole_network():
    torch.manual_seed(3)
    net = GeneratorSupernet(n_cells=4, hidden_dim=2)
    with torch.no_grad():
        for p in net.arch_parameters():
            p.normal_()
    x = torch.randn(1, 3, 32, 32)
    net.set_mode("merged")
    a = net(x)
    net.set_mode("reference")
    b = net(x)
    assert torch.allclose(a, b, atol=1e-5)


def test_macs_counted_by_torch():
    conv = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1))
    assert count_macs(conv, 16) == 3 * 8 * 9 * 16 * 16
    cost = model_cost(Generator(named_genotype("cyclegan"), 16), 32)
    assert cost.params == 715_651 and cost.mb == pytest.approx(4 * 715_651 / 1e6)
    assert cost.macs > 0 and model_cost(Generator(named_genotype("cyclegan"), 16), 64).macs == 4 * cost.macs


def test_patchgan_point_genotype_is_not_the_official_patchgan():
    # same parameters, different outputs: 31x31 logits at 256 px against the official network's 30x30
    point, official = Discriminator(named_genotype("patchgan_point"), 64), PatchGANDiscriminator(64)
    assert isinstance(official, PatchGANDiscriminator) and not isinstance(point, PatchGANDiscriminator)
    assert count_params(point) == count_params(official) == 2_764_737
    with torch.no_grad():
        x = torch.zeros(1, 3, 256, 256)
        assert point(x).shape[-2:] == (31, 31) and official(x).shape[-2:] == (30, 30)
