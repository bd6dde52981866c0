"""The CycleGAN objective against hand computations (LSGAN and vanilla), and the image pool's behaviour."""

import math

import pytest
import torch
from torch import nn

from nasplatform.engine.config import LossConfig
from nasplatform.engine.losses import GANLoss, cycle_loss, discriminator_loss, generator_objective, identity_loss
from nasplatform.engine.pool import ImagePool


def full(value: float, requires_grad: bool = False) -> torch.Tensor:
    return torch.full((1, 1, 2, 2), float(value), requires_grad=requires_grad)


def test_lsgan_is_mse_to_one_and_zero():
    gan = GANLoss("lsgan")
    pred = torch.tensor([[0.5, -1.0]])
    assert gan(pred, True).item() == pytest.approx((0.25 + 4.0) / 2)
    assert gan(pred, False).item() == pytest.approx((0.25 + 1.0) / 2)


def test_vanilla_is_bce_with_logits():
    gan = GANLoss("vanilla")
    pred = torch.tensor([[0.0, math.log(3.0)]])
    # -log(sigmoid(x)) = log(1 + e^-x); -log(1 - sigmoid(x)) = log(1 + e^x)
    assert gan(pred, True).item() == pytest.approx((math.log(2) + math.log(4 / 3)) / 2)
    assert gan(pred, False).item() == pytest.approx((math.log(2) + math.log(4)) / 2)


def test_unknown_gan_mode_is_an_error():
    with pytest.raises(ValueError, match="wgan"):
        GANLoss("wgan")


def test_l1_terms():
    assert cycle_loss(full(0.5), full(0.0)).item() == pytest.approx(0.5)
    assert identity_loss(torch.tensor([1.0, -1.0]), torch.tensor([0.0, 0.0])).item() == pytest.approx(1.0)


def objective_inputs(requires_grad: bool = False) -> dict:
    return {
        "real_a": full(0.0),
        "real_b": full(1.0),
        "fake_b": full(0.3),
        "fake_a": full(0.7),
        "rec_a": full(0.5, requires_grad),
        "rec_b": full(0.75, requires_grad),  # |.| = 0.5 and 0.25
        "idt_a": full(0.9, requires_grad),
        "idt_b": full(0.2, requires_grad),  # vs real_b: 0.1, vs real_a: 0.2
        "d_a_fake_logits": full(-1.0, requires_grad),
        "d_b_fake_logits": full(0.5, requires_grad),
    }


def test_generator_objective_lsgan_by_hand():
    total, parts = generator_objective(**objective_inputs(), cfg=LossConfig())
    # Ladv(G_A, D_B) = (0.5 - 1)^2, Ladv(G_B, D_A) = (-1 - 1)^2, Lcyc = 0.5 + 0.25, Lidt = 0.1 and 0.2
    assert parts["loss_adv_a2b"].item() == pytest.approx(0.25)
    assert parts["loss_adv_b2a"].item() == pytest.approx(4.0)
    assert parts["loss_cyc"].item() == pytest.approx(0.75)
    assert parts["loss_idt"].item() == pytest.approx(0.3)
    assert total.item() == pytest.approx(0.25 + 4.0 + 10 * 0.75 + 5 * 0.1 + 5 * 0.2)


def test_generator_objective_vanilla_with_custom_lambdas():
    cfg = LossConfig(
        gan_mode="vanilla", lambda_adv_a=2.0, lambda_adv_b=3.0, lambda_cyc=4.0, lambda_idt_a=6.0, lambda_idt_b=7.0
    )
    total, parts = generator_objective(**objective_inputs(), cfg=cfg)
    adv_a2b, adv_b2a = math.log1p(math.exp(-0.5)), math.log1p(math.exp(1.0))
    assert parts["loss_adv_a2b"].item() == pytest.approx(adv_a2b)
    assert parts["loss_adv_b2a"].item() == pytest.approx(adv_b2a)
    assert total.item() == pytest.approx(2 * adv_a2b + 3 * adv_b2a + 4 * 0.75 + 6 * 0.1 + 7 * 0.2)


def test_generator_objective_gradients_reach_every_term():
    inputs = objective_inputs(requires_grad=True)
    total, parts = generator_objective(**inputs, cfg=LossConfig())
    total.backward()
    # d/dx of lambda_cyc * mean|x - real| over 4 pixels = 10 * sign / 4
    assert torch.allclose(inputs["rec_a"].grad, torch.full((1, 1, 2, 2), 2.5))
    assert torch.allclose(inputs["idt_a"].grad, torch.full((1, 1, 2, 2), -5 / 4))
    assert torch.allclose(inputs["d_b_fake_logits"].grad, torch.full((1, 1, 2, 2), 2 * (0.5 - 1) / 4))
    assert all(not p.requires_grad for p in parts.values())


def test_identity_terms_skipped_when_weight_is_zero():
    inputs = objective_inputs() | {"idt_a": None, "idt_b": None}
    total, parts = generator_objective(**inputs, cfg=LossConfig(lambda_idt_a=0.0, lambda_idt_b=0.0))
    assert parts["loss_idt"].item() == 0.0 and total.item() == pytest.approx(0.25 + 4.0 + 7.5)
    with pytest.raises(ValueError, match="idt_a"):
        generator_objective(**inputs, cfg=LossConfig(lambda_idt_b=0.0))


@pytest.mark.parametrize("mode", ["lsgan", "vanilla"])
def test_discriminator_loss_halves_and_detaches_fake(mode):
    d = nn.Conv2d(1, 1, 1, bias=False)
    nn.init.constant_(d.weight, 2.0)
    real, fake = full(0.25), full(-0.5, requires_grad=True)
    loss = discriminator_loss(d, real, fake, GANLoss(mode))
    if mode == "lsgan":  # D(real) = 0.5 -> (0.5 - 1)^2; D(fake) = -1 -> (-1 - 0)^2
        expected = 0.5 * (0.25 + 1.0)
    else:
        expected = 0.5 * (math.log1p(math.exp(-0.5)) + math.log1p(math.exp(-1.0)))
    assert loss.item() == pytest.approx(expected)
    loss.backward()
    assert fake.grad is None and d.weight.grad is not None


def image(value: float) -> torch.Tensor:
    return torch.full((1, 1, 2, 2), float(value))


def test_pool_of_size_zero_passes_images_through():
    pool = ImagePool(0)
    x = torch.randn(3, 1, 2, 2)
    assert torch.equal(pool.query(x), x) and len(pool) == 0


def test_pool_stores_then_swaps_half_the_time():
    pool = ImagePool(4, seed=3)
    for k in range(4):  # filling: every image comes straight back and is kept
        assert pool.query(image(k)).flatten()[0].item() == k
    assert sorted(img.flatten()[0].item() for img in pool.images) == [0, 1, 2, 3]
    swaps = 0
    for k in range(4, 404):
        before = {img.flatten()[0].item() for img in pool.images}
        out = pool.query(image(k)).flatten()[0].item()
        after = {img.flatten()[0].item() for img in pool.images}
        if out == k:
            assert after == before
        else:  # an older image came back and the new one took its place
            swaps += 1
            assert out in before and after == (before - {out}) | {k}
    assert 150 < swaps < 250


def test_pool_handles_batches_and_detaches():
    pool = ImagePool(2, seed=0)
    x = torch.randn(5, 3, 4, 4, requires_grad=True)
    out = pool.query(x)
    assert out.shape == x.shape and not out.requires_grad and len(pool) == 2
    assert torch.equal(out[:2], x[:2].detach())


def test_pool_randomness_is_its_own_and_seeded():
    def run(seed: int) -> list[float]:
        pool = ImagePool(2, seed=seed)
        return [pool.query(image(k)).flatten()[0].item() for k in range(40)]

    torch.manual_seed(0)
    first = run(7)
    torch.manual_seed(1)  # the global torch RNG has no say
    assert run(7) == first and run(8) != first


# ---------------------------------------------------------------- batched network calls are exact


def _tiny_nets(kind: str):
    from nasplatform.nets.build import build_discrete, build_supernets, load_genotypes

    torch.manual_seed(0)
    if kind == "supernet":
        return build_supernets(n_cells=3, hidden_dim=4, ndf=4, mode="merged")
    return build_discrete(load_genotypes("cyclegan"), 4, 4, 4, "patchgan")


@pytest.mark.parametrize("kind", ["supernet", "discrete"])
@pytest.mark.parametrize("batch", [1, 2])
def test_stacked_translations_equal_separate_network_calls(kind, batch):
    from nasplatform.engine.cyclegan_step import translate_both

    nets = _tiny_nets(kind)
    real_a, real_b = torch.rand(batch, 3, 32, 32) * 2 - 1, torch.rand(batch, 3, 32, 32) * 2 - 1
    t = translate_both(nets, real_a, real_b, LossConfig())
    expected = {
        "fake_b": nets.g_a(real_a),
        "fake_a": nets.g_b(real_b),
        "idt_a": nets.g_a(real_b),
        "idt_b": nets.g_b(real_a),
    }
    expected["rec_a"], expected["rec_b"] = nets.g_b(expected["fake_b"]), nets.g_a(expected["fake_a"])
    for name, want in expected.items():
        assert torch.allclose(getattr(t, name), want, atol=1e-5, rtol=1e-4), name
    no_idt = translate_both(nets, real_a, real_b, LossConfig(lambda_idt_a=0.0, lambda_idt_b=0.0))
    assert no_idt.idt_a is None and no_idt.idt_b is None
    assert torch.allclose(no_idt.fake_b, expected["fake_b"], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("kind", ["supernet", "discrete"])
def test_discriminator_loss_on_stacked_batch_equals_two_calls(kind):
    nets = _tiny_nets(kind)
    gan = GANLoss("lsgan")
    real, fake = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32, requires_grad=True)
    loss = discriminator_loss(nets.d_a, real, fake, gan)
    separate = 0.5 * (gan(nets.d_a(real), True) + gan(nets.d_a(fake.detach()), False))
    assert torch.allclose(loss, separate, atol=1e-6, rtol=1e-5)
    loss.backward()
    assert fake.grad is None  # the fake stays detached
