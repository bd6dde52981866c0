"""The GPU path's switches, exercised on CPU: safe defaults, channels_last, bf16 networks with float32 losses."""

import pytest
import torch
import torch.nn.functional as F

from nasplatform.engine.accel import (
    AccelConfig,
    autocast,
    configure_backends,
    prepare_network,
    prepare_networks,
    to_memory_format,
)
from nasplatform.engine.config import ConfigError, from_dict
from nasplatform.nets import GeneratorSupernet
from nasplatform.nets.build import build_discrete, build_supernets, load_genotypes


def tiny_supernets():
    torch.manual_seed(0)
    return build_supernets(n_cells=3, hidden_dim=4, ndf=4, mode="merged")


def test_every_switch_is_off_by_default():
    assert AccelConfig() == AccelConfig(channels_last=False, bf16=False, compile=False, cudnn_benchmark=False)


def test_config_errors_name_the_key():
    with pytest.raises(ValueError, match="bf16: expected true or false, got 1"):
        AccelConfig(bf16=1)
    with pytest.raises(ConfigError, match="accel.bf16: expected true or false"):
        from_dict(AccelConfig, {"bf16": "yes"}, prefix="accel")
    with pytest.raises(ConfigError, match="accel.channel_last: unknown key; did you mean 'accel.channels_last'"):
        from_dict(AccelConfig, {"channel_last": True}, prefix="accel")


def test_defaults_change_nothing():
    nets = tiny_supernets()
    reference = {k: v.clone() for k, v in nets.g_a.state_dict().items()}
    prepare_networks(nets, AccelConfig(), "cpu")
    x = torch.rand(1, 3, 32, 32)
    assert to_memory_format(x, AccelConfig()) is x
    with autocast(AccelConfig(), "cpu"):
        assert not torch.is_autocast_enabled("cpu")
        y = nets.g_a(x)
    assert y.dtype == torch.float32 and not nets.g_a._forward_hooks
    assert all(torch.equal(v, reference[k]) for k, v in nets.g_a.state_dict().items())


def test_channels_last_gives_the_same_translation():
    torch.manual_seed(0)
    nets = build_discrete(load_genotypes("cyclegan"), 4, 4, 4, "patchgan")
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    expected = nets.g_a(x)
    accel = AccelConfig(channels_last=True)
    prepare_networks(nets, accel, "cpu")
    stem_conv = nets.g_a.stem[1].weight
    assert stem_conv.is_contiguous(memory_format=torch.channels_last)
    x_cl = to_memory_format(x, accel)
    assert x_cl.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(nets.g_a(x_cl), expected, atol=1e-5)


def test_bf16_runs_convolutions_in_bf16_and_losses_in_fp32():
    nets = tiny_supernets()
    accel = AccelConfig(bf16=True)
    prepare_networks(nets, accel, "cpu")
    inner = []
    nets.g_a.stem[1].register_forward_hook(lambda m, i, o: inner.append(o.dtype))
    real_a = torch.rand(1, 3, 32, 32) * 2 - 1
    with autocast(accel, "cpu"):
        fake_b = nets.g_a(real_a)
        logits = nets.d_b(fake_b)
        loss = F.l1_loss(nets.g_b(fake_b), real_a) + F.mse_loss(logits, torch.ones_like(logits))
    assert inner == [torch.bfloat16]  # the network ran under autocast
    assert fake_b.dtype == logits.dtype == loss.dtype == torch.float32
    loss.backward()  # through merged kernels and StrideOneConv in bf16, outside the autocast block
    grads = [p.grad for p in nets.g_a.parameters()]
    assert all(g is not None and g.dtype == torch.float32 and torch.isfinite(g).all() for g in grads)
    assert nets.g_a.arch_parameters()[0].grad.abs().sum() > 0


def test_bf16_translation_is_close_to_fp32():
    torch.manual_seed(0)
    net = GeneratorSupernet(n_cells=3, hidden_dim=4)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    expected = net(x)
    accel = AccelConfig(bf16=True)
    prepare_network(net, accel, "cpu")
    with autocast(accel, "cpu"):
        y = net(x)
    assert ((y - expected).norm() / expected.norm()).item() < 0.05


def test_preparing_twice_does_not_stack_output_hooks():
    net = GeneratorSupernet(n_cells=3, hidden_dim=4)
    for _ in range(2):
        prepare_network(net, AccelConfig(bf16=True), "cpu")
    assert len(net._forward_hooks) == 1


def test_compile_keeps_the_module_and_its_state_dict_keys():
    net = GeneratorSupernet(n_cells=3, hidden_dim=4)
    keys = list(net.state_dict())
    assert prepare_network(net, AccelConfig(compile=True), "cpu") is net
    assert net._compiled_call_impl is not None and list(net.state_dict()) == keys


def test_configure_backends_leaves_cudnn_alone_on_cpu():
    before = torch.backends.cudnn.benchmark
    configure_backends(AccelConfig(cudnn_benchmark=not before), "cpu")
    assert torch.backends.cudnn.benchmark == before


# ---------------------------------------------------------------- the switches wired into search and retrain

ACCEL_TINY = ["n_cells=3", "hidden_dim=2", "ndf=4", "max_iters_per_epoch=2", "data.crop_size=32", "data.load_size=36"]


def _record_forward_precision(nets, seen: list):
    """Hooks that log (network, autocast on?, input memory format NHWC?, output dtype) for every forward pass."""

    def hook(name):
        def record(module, args, output):
            x = args[0]
            seen.append(
                (
                    name,
                    torch.is_autocast_enabled("cpu"),
                    x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous(),
                    output.dtype,
                )
            )

        return record

    for name, net in nets.items():
        net.register_forward_hook(hook(name))


@pytest.mark.parametrize("scheme", ["OF", "TH"])
def test_search_runs_networks_under_bf16_and_nhwc_with_fp32_losses(tiny_data, tmp_path, scheme):
    from nasplatform.engine.config import SearchConfig, apply_overrides
    from nasplatform.engine.loop import MeanMeter
    from nasplatform.engine.rundir import RunDirectory
    from nasplatform.engine.search import SearchJob

    cfg = apply_overrides(
        SearchConfig(),
        [
            f"data.root={tiny_data}",
            *ACCEL_TINY,
            f"scheme={scheme}",
            "epochs=1",
            "accel.bf16=true",
            "accel.channels_last=true",
        ],
    )
    job = SearchJob(cfg, RunDirectory(tmp_path / "run").prepare())
    conv_weights = [p for _, net in job.nets.items() for p in net.parameters() if p.dim() == 4]
    assert conv_weights and all(p.is_contiguous(memory_format=torch.channels_last) for p in conv_weights)
    seen: list = []
    _record_forward_precision(job.nets, seen)
    before = {k: v.clone() for k, v in job.nets.g_a.state_dict().items()}
    meter = MeanMeter()
    job.train_epoch(1, meter, progress=False)
    assert {name for name, *_ in seen} == {"g_a", "g_b", "d_a", "d_b"}
    # every forward pass of a training step ran under autocast on NHWC inputs, and handed float32 to the losses
    assert all(on for _, on, _, _ in seen)
    assert all(nhwc for name, _, nhwc, _ in seen if name in ("g_a", "g_b"))
    assert {dtype for *_, dtype in seen} == {torch.float32}
    assert not torch.is_autocast_enabled("cpu")  # the block closed: backward and optimizer steps ran outside
    means = meter.means()
    assert all(torch.isfinite(torch.tensor(v)) for v in means.values())
    if scheme == "TH":
        assert "alpha_loss_g" in means
    after = job.nets.g_a.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)  # the step trained the weights and alphas
    assert all(v.dtype == torch.float32 for v in after.values() if v.is_floating_point())  # master weights fp32


def test_retrain_under_accel_resumes_from_its_config(tiny_data, tmp_path):
    from nasplatform.engine.config import RetrainConfig, apply_overrides, load_yaml
    from nasplatform.engine.retrain import resume_retrain, run_retrain

    cfg = apply_overrides(
        RetrainConfig(),
        [
            f"data.root={tiny_data}",
            "hidden_dim=4",
            "ndf=4",
            "max_iters_per_epoch=2",
            "data.crop_size=32",
            "data.load_size=36",
            "n_epochs=1",
            "n_epochs_decay=1",
            "accel.bf16=true",
            "accel.channels_last=true",
        ],
    )

    class Stop(Exception):
        pass

    def stop_after_first(row, checkpoint):
        if row["epoch"] == 1:
            raise Stop

    with pytest.raises(Stop):
        run_retrain(cfg, tmp_path / "run", on_epoch=stop_after_first, progress=False)
    saved = load_yaml(RetrainConfig, tmp_path / "run" / "config.yaml")
    assert saved.accel == AccelConfig(channels_last=True, bf16=True)
    result = resume_retrain(tmp_path / "run", progress=False)
    assert result.outcome.status == "ok" and result.outcome.epochs_done == 2
