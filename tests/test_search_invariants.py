"""Invariants of the search algorithm (paper Algorithm 1, docs/design.md §4) on tiny supernets: what each optimizer
step changes, which data feeds it, how many steps an epoch takes, what reaches the optimizers, and bit-exact resume."""

import copy
import json

import pytest
import torch
from conftest import make_cyclegan_layout

from nasplatform.engine.checkpoint import load_checkpoint
from nasplatform.engine.config import SearchConfig, apply_overrides, from_dict
from nasplatform.engine.cyclegan_step import discriminator_losses, generator_loss, translate_both
from nasplatform.engine.loop import MeanMeter
from nasplatform.engine.rundir import RunDirectory
from nasplatform.engine.search import SearchJob, resume_search, run_search
from nasplatform.engine.strategies import STRATEGIES, build_strategy
from nasplatform.nets.build import build_supernets

SCHEMES = list(STRATEGIES)
TINY = ["n_cells=3", "hidden_dim=2", "ndf=4", "data.crop_size=32", "data.load_size=36"]


def search_cfg(root, *overrides) -> SearchConfig:
    return apply_overrides(from_dict(SearchConfig, {}), [f"data.root={root}", *TINY, *overrides])


@pytest.fixture(scope="module")
def even_data(tmp_path_factory):
    """trainA 6, trainB 6 (even, so TH's halves are exactly half an OF epoch), testA 2, testB 2, 40x40."""
    return make_cyclegan_layout(tmp_path_factory.mktemp("even") / "even", counts=(6, 6, 2, 2))


# ---------------------------------------------------------------- parameter groups and snapshots


def groups(nets) -> dict[str, list[torch.nn.Parameter]]:
    """Every parameter of the four supernets under "<network>.weights" or "<network>.alphas"."""
    out = {}
    for name, net in nets.items():
        out[f"{name}.weights"] = net.weight_parameters()
        out[f"{name}.alphas"] = net.arch_parameters()
    return out


def snapshot(nets) -> dict[str, list[torch.Tensor]]:
    return {group: [p.detach().clone() for p in params] for group, params in groups(nets).items()}


def changed(before: dict, after: dict) -> set[str]:
    """The groups in which at least one tensor differs."""
    return {g for g in before if any(not torch.equal(x, y) for x, y in zip(before[g], after[g]))}


def all_moved(before: dict, after: dict, group: str) -> bool:
    return all(not torch.equal(x, y) for x, y in zip(before[group], after[group]))


G_WEIGHTS, G_ALPHAS = {"g_a.weights", "g_b.weights"}, {"g_a.alphas", "g_b.alphas"}
D_WEIGHTS, D_ALPHAS = {"d_a.weights", "d_b.weights"}, {"d_a.alphas", "d_b.alphas"}

#: Per scheme, the optimizer steps of one iteration in order, and the parameter groups each one changes.
STEP_EFFECTS = {
    "OF": [("g", G_WEIGHTS | G_ALPHAS), ("d", D_WEIGHTS | D_ALPHAS)],
    **{
        s: [("alpha_g", G_ALPHAS), ("alpha_d", D_ALPHAS), ("g", G_WEIGHTS), ("d", D_WEIGHTS)]
        for s in ("TF", "TH", "THS")
    },
}


def tiny_strategy(root, scheme, *overrides):
    cfg = search_cfg(root, f"scheme={scheme}", *overrides)
    torch.manual_seed(0)
    nets = build_supernets(cfg.n_cells, cfg.hidden_dim, cfg.ndf, cfg.mixed_op_mode)
    return build_strategy(nets, cfg), cfg


def batch(seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {"a": torch.rand(1, 3, 32, 32, generator=g) * 2 - 1, "b": torch.rand(1, 3, 32, 32, generator=g) * 2 - 1}


# ---------------------------------------------------------------- what each optimizer step changes


@pytest.mark.parametrize("scheme", SCHEMES)
def test_each_optimizer_step_changes_exactly_its_parameters(tiny_data, scheme):
    strategy, _ = tiny_strategy(tiny_data, scheme)
    nets, optimizers = strategy.nets, strategy.optimizers()
    states = [("start", snapshot(nets))]
    hooks = [
        opt.register_step_post_hook(lambda o, a, k, name=name: states.append((name, snapshot(nets))))
        for name, opt in optimizers.items()
    ]
    try:
        strategy.step(batch(1), batch(2) if scheme != "OF" else None)
    finally:
        for h in hooks:
            h.remove()
    steps = [name for name, _ in states[1:]]
    assert steps == [name for name, _ in STEP_EFFECTS[scheme]], f"{scheme}: optimizer steps in order {steps}"
    for (_, before), (name, after), (_, expected) in zip(states, states[1:], STEP_EFFECTS[scheme]):
        assert changed(before, after) == expected, f"{scheme} step {name!r} changed {sorted(changed(before, after))}"
        for group in expected & (G_ALPHAS | D_ALPHAS):  # every mixed op of every network takes part
            assert all_moved(before, after, group), f"{scheme} step {name!r}: some alphas of {group} did not move"


@pytest.mark.parametrize("scheme", SCHEMES)
def test_the_d_step_of_the_weight_update_consumes_the_pools_and_the_alpha_step_does_not(tiny_data, scheme):
    strategy, _ = tiny_strategy(tiny_data, scheme)
    g_a, g_b = copy.deepcopy(strategy.nets.g_a), copy.deepcopy(strategy.nets.g_b)
    w_batch, alpha_batch = batch(1), batch(2)
    pool_a, pool_b = strategy.pools
    if scheme != "OF":
        strategy._alpha_step(alpha_batch["a"], alpha_batch["b"])
        assert len(pool_a) == len(pool_b) == 0  # the alpha step's D loss sees fresh fakes, never pooled ones
        g_a, g_b = copy.deepcopy(strategy.nets.g_a), copy.deepcopy(strategy.nets.g_b)
    strategy._weight_step(w_batch)
    # each pool took the fake of its domain, made by the generators before the G step: D_A gets G_B(b), D_B G_A(a)
    assert len(pool_a) == len(pool_b) == 1
    with torch.no_grad():
        assert torch.allclose(pool_a.images[0], g_b(w_batch["b"])[0], atol=1e-6)
        assert torch.allclose(pool_b.images[0], g_a(w_batch["a"])[0], atol=1e-6)


def test_two_step_alpha_gradients_come_from_l_for_g_and_from_the_d_loss_for_d(tiny_data):
    strategy, cfg = tiny_strategy(tiny_data, "TH")
    reference = copy.deepcopy(strategy.nets)
    real = batch(3)
    strategy._alpha_step(real["a"], real["b"])

    # the same first Adam step by hand: G alphas on L, D alphas on D_A's + D_B's losses with fresh (unpooled) fakes
    t = translate_both(reference, real["a"], real["b"], cfg.loss)
    loss_g, _ = generator_loss(reference, real["a"], real["b"], t, cfg.loss)
    loss_d = sum(
        discriminator_losses(reference, real["a"], real["b"], t.fake_a.detach(), t.fake_b.detach(), strategy.gan)
    )
    o = cfg.optim
    for loss, names in ((loss_g, ("g_a", "g_b")), (loss_d, ("d_a", "d_b"))):
        alphas = [p for n in names for p in getattr(reference, n).arch_parameters()]
        for p, grad in zip(alphas, torch.autograd.grad(loss, alphas, retain_graph=True)):
            p.grad = grad
        torch.optim.Adam(
            alphas, lr=o.arch_lr, betas=(o.arch_beta1, o.arch_beta2), weight_decay=o.arch_weight_decay
        ).step()
    for name, net in strategy.nets.items():
        for got, want in zip(net.arch_parameters(), getattr(reference, name).arch_parameters()):
            assert torch.allclose(got, want, rtol=0, atol=1e-7), f"{name} alphas differ from a step on its own loss"


# ---------------------------------------------------------------- the data that feeds each step


def recording_job(root, tmp_path, scheme, *overrides):
    """A real SearchJob whose strategy records the batch indices and the images of every alpha and weight step."""
    job = SearchJob(search_cfg(root, f"scheme={scheme}", *overrides), RunDirectory(tmp_path / "run").prepare())
    strategy, log = job.strategy, []
    step, alpha_step, weight_step = strategy.step, getattr(strategy, "_alpha_step", None), strategy._weight_step

    def record_step(w_batch, alpha_batch):
        log.append({"w": w_batch, "alpha": alpha_batch})
        return step(w_batch, alpha_batch)

    def record_alpha(real_a, real_b):
        log[-1]["alpha_images"] = (real_a, real_b)
        return alpha_step(real_a, real_b)

    def record_weight(w_batch):
        log[-1]["w_images"] = (w_batch["a"], w_batch["b"])
        return weight_step(w_batch)

    strategy.step, strategy._weight_step = record_step, record_weight
    if alpha_step is not None:
        strategy._alpha_step = record_alpha
    return job, log


def indices(entries, role: str, domain: str) -> set[int]:
    return {int(i) for e in entries for i in e[role][f"{domain.lower()}_index"]}


def halves(job) -> dict:
    return json.loads(job.run.splits.read_text())


def assert_fed_by(entries, role_split: dict, split_of: dict) -> None:
    """Every step's weight (alpha) images came from the batch of that role, whose indices lie in its split."""
    for e in entries:
        assert torch.equal(e["w_images"][0], e["w"]["a"]) and torch.equal(e["w_images"][1], e["w"]["b"])
        if e["alpha"] is not None:
            assert torch.equal(e["alpha_images"][0], e["alpha"]["a"]) and torch.equal(
                e["alpha_images"][1], e["alpha"]["b"]
            )
    for role, split in role_split.items():
        for domain in ("A", "B"):
            assert indices(entries, role, domain) <= split_of[split][domain], (
                f"{role} step drew {domain} outside {split}"
            )


@pytest.mark.parametrize("scheme", ["TH", "THS"])
def test_half_schemes_feed_weights_from_half1_and_alphas_from_half2_until_the_swap(even_data, tmp_path, scheme):
    job, log = recording_job(even_data, tmp_path, scheme, "epochs=3", "swap_epoch=1")
    split = {name: {d: set(halves(job)[d][name]) for d in ("A", "B")} for name in ("half1", "half2")}
    for epoch in (1, 2):
        start = len(log)
        job.train_epoch(epoch, MeanMeter(), False)
        swapped = scheme == "THS" and epoch > 1  # THS: roles swap after swap_epoch
        roles = {"w": "half2", "alpha": "half1"} if swapped else {"w": "half1", "alpha": "half2"}
        assert_fed_by(log[start:], roles, split)
        # the weight data is walked once per epoch: every image of its half of A (the longer domain on a tie;
        # B images are drawn as random partners)
        assert indices(log[start:], "w", "A") == split[roles["w"]]["A"]


@pytest.mark.e2e  # a search or retrain run end to end (> 5 s)
def test_tf_feeds_both_steps_from_the_full_data_with_their_own_draws(even_data, tmp_path):
    job, log = recording_job(even_data, tmp_path, "TF", "epochs=1")
    job.train_epoch(1, MeanMeter(), False)
    full = {"full": {"A": set(range(6)), "B": set(range(6))}}
    assert_fed_by(log, {"w": "full", "alpha": "full"}, full)
    pairs = [(int(e["w"]["a_index"][0]), int(e["alpha"]["a_index"][0])) for e in log]
    assert any(w != a for w, a in pairs)  # the alpha data is a second view, not the weight batch again


@pytest.mark.e2e  # a search or retrain run end to end (> 5 s)
def test_of_has_no_alpha_data(even_data, tmp_path):
    job, log = recording_job(even_data, tmp_path, "OF", "epochs=1")
    job.train_epoch(1, MeanMeter(), False)
    assert all(e["alpha"] is None for e in log) and indices(log, "w", "A") == set(range(6))


def optimizer_steps_of_one_epoch(root, tmp_path, scheme) -> dict[str, int]:
    job = SearchJob(search_cfg(root, f"scheme={scheme}", "epochs=1"), RunDirectory(tmp_path / scheme).prepare())
    counts = {name: 0 for name in job.strategy.optimizers()}
    for name, opt in job.strategy.optimizers().items():
        opt.register_step_post_hook(lambda o, a, k, name=name: counts.__setitem__(name, counts[name] + 1))
    job.train_epoch(1, MeanMeter(), False)
    return counts


@pytest.mark.e2e  # a search or retrain run end to end (> 5 s)
def test_th_takes_as_many_optimizer_steps_per_epoch_as_of_half_of_them_weight_steps_and_tf_doubles(even_data, tmp_path):
    of, tf, th = (optimizer_steps_of_one_epoch(even_data, tmp_path, s) for s in ("OF", "TF", "TH"))
    n = 6  # images per domain: an OF epoch has 6 iterations
    assert of == {"g": n, "d": n}
    assert th == {"g": n // 2, "d": n // 2, "alpha_g": n // 2, "alpha_d": n // 2}
    assert sum(th.values()) == sum(of.values()) and sum(tf.values()) == 2 * sum(of.values())

    def weight_steps(counts):
        return counts["g"] + counts["d"]

    assert 2 * weight_steps(th) == weight_steps(of) == weight_steps(tf)


# ---------------------------------------------------------------- the hyperparameters that reach the optimizers


#: Non-default values, so a hard-coded default in the strategies cannot pass.
OPTIM = {
    "lr": 1.5e-4,
    "beta1": 0.3,
    "beta2": 0.99,
    "arch_lr": 7e-4,
    "arch_beta1": 0.2,
    "arch_beta2": 0.95,
    "arch_weight_decay": 2e-3,
}


def expected_hyper(scheme: str, kind: str) -> tuple[float, float, float, float]:
    """(lr, beta1, beta2, weight_decay) every parameter of `kind` ("weights" or "alphas") must be stepped with.

    OF steps the alphas in the weights' Adam (paper Algorithm 1; a separate OF alpha lr would change only the
    "alphas" row of OF here); two-step schemes give them their own Adam with the DARTS settings.
    """
    o = OPTIM
    if kind == "weights" or scheme == "OF":
        return o["lr"], o["beta1"], o["beta2"], 0.0
    return o["arch_lr"], o["arch_beta1"], o["arch_beta2"], o["arch_weight_decay"]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_the_configured_hyperparameters_reach_every_parameter_of_the_torch_optimizers(tiny_data, scheme):
    strategy, _ = tiny_strategy(tiny_data, scheme, *(f"optim.{k}={v}" for k, v in OPTIM.items()))
    seen: dict[int, tuple] = {}
    for opt in strategy.optimizers().values():
        assert isinstance(opt, torch.optim.Adam)
        for group in opt.param_groups:
            hyper = (group["lr"], *group["betas"], group["weight_decay"])
            for p in group["params"]:
                assert id(p) not in seen, "a parameter is stepped by two optimizers"
                seen[id(p)] = hyper
    for group, params in groups(strategy.nets).items():
        want = expected_hyper(scheme, group.split(".")[1])
        for p in params:
            assert id(p) in seen, f"{scheme}: a parameter of {group} is in no optimizer"
            assert seen[id(p)] == want, f"{scheme}: {group} stepped with {seen[id(p)]}, expected {want}"
    assert len(seen) == sum(len(p) for p in groups(strategy.nets).values())


# ---------------------------------------------------------------- resume


class Interrupt(Exception):
    pass


def assert_identical(a, b, where: str = "state") -> None:
    """Nested checkpoint states equal bit for bit (tensors with torch.equal, everything else with ==)."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} vs {type(b).__name__}"
    if isinstance(a, dict):
        assert a.keys() == b.keys(), f"{where}: keys {sorted(a)} vs {sorted(b)}"
        for key in a:
            assert_identical(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), f"{where}: length {len(a)} vs {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_identical(x, y, f"{where}[{i}]")
    elif isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b), f"{where}: tensors differ"
    else:
        assert a == b, f"{where}: {a!r} vs {b!r}"


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.e2e  # a search or retrain run end to end (> 5 s)
def test_resume_is_bit_exact_in_weights_alphas_optimizers_and_pools(tiny_data, tmp_path, scheme):
    cfg = search_cfg(
        tiny_data,
        f"scheme={scheme}",
        "epochs=3",
        "swap_epoch=2",
        "max_iters_per_epoch=3",
        "loss.pool_size=2",
        "alpha_lr_decay_epochs=2",
        "decide_from_epoch=2",
        "decide_by_epoch=3",
    )  # a pool of 2 fills within the run, so its replacement draws matter; the alphas' lr decays in epochs 2-3;
    # half the mixed ops are decided at the end of epoch 2, so the resumed epoch 3 must restore those decisions

    def stop_after_two(row, checkpoint):
        if row["epoch"] == 2:
            raise Interrupt

    run_search(cfg, tmp_path / "straight", progress=False)
    with pytest.raises(Interrupt):
        run_search(cfg, tmp_path / "resumed", on_epoch=stop_after_two, progress=False)
    resume_search(tmp_path / "resumed", progress=False)
    straight = load_checkpoint(tmp_path / "straight" / "checkpoints" / "last.pt")
    resumed = load_checkpoint(tmp_path / "resumed" / "checkpoints" / "last.pt")
    assert int(straight["epoch"]) == int(resumed["epoch"]) == 3
    job = straight["job"]
    assert set(job["networks"]) == {"g_a", "g_b", "d_a", "d_b"} and len(job["strategy"]["pools"]) == 2
    assert all(len(pool["images"]) == 2 for pool in job["strategy"]["pools"])
    assert len(job["strategy"]["optimizers"]) == (2 if scheme == "OF" else 4)
    # networks (weights and alphas), every optimizer's state, both pools (images and RNG) and the global RNGs
    all_ops = sum(len(net.slots) for _, net in build_supernets(cfg.n_cells, cfg.hidden_dim, cfg.ndf, "merged").items())
    assert len(job["decisions"]) == all_ops  # all decided by the end of epoch 3
    assert_identical(straight["job"], resumed["job"], "job")
    assert_identical(straight["rng"], resumed["rng"], "rng")
