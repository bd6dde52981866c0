"""The search's decisiveness measures (normalised alpha entropy, genotype stability) and OF's alpha learning rate."""

import math

import pandas as pd
import pytest
import torch

from analysis.curves import decisiveness_curve
from analysis.load import load_metrics
from nasplatform.engine.checkpoint import load_checkpoint
from nasplatform.engine.config import ConfigError, SearchConfig, apply_overrides, from_dict
from nasplatform.engine.loop import MeanMeter
from nasplatform.engine.rundir import RunDirectory
from nasplatform.engine.search import (
    SearchJob,
    alpha_entropy,
    alpha_lr_factor,
    decide_mixed_ops,
    decisions,
    decisions_due,
    genotype_stable_since,
    recorded_choices,
    run_search,
    undecided_ops,
)
from nasplatform.engine.strategies import STRATEGIES, build_strategy
from nasplatform.nets.build import build_supernets
from nasplatform.nets.supernet import normalised_entropy

TINY = ["n_cells=3", "hidden_dim=2", "ndf=4", "max_iters_per_epoch=3", "data.crop_size=32", "data.load_size=36"]


def search_cfg(root, *overrides):
    return apply_overrides(from_dict(SearchConfig, {}), [f"data.root={root}", *TINY, *overrides])


def test_normalised_entropy_uniform_one_hot_and_hand_computed():
    assert normalised_entropy(torch.zeros(8)) == pytest.approx(1.0, abs=1e-12)
    assert normalised_entropy(torch.full((3,), 7.5)) == pytest.approx(1.0, abs=1e-12)
    assert normalised_entropy(torch.tensor([50.0, 0.0, 0.0, 0.0])) < 1e-18
    assert normalised_entropy(torch.tensor([3.0])) == 0.0
    # softmax([log 3, 0]) = (3/4, 1/4): H = -(3/4 ln 3/4 + 1/4 ln 1/4) = 0.5623351446, / ln 2 = 0.8112781245
    assert normalised_entropy(torch.tensor([math.log(3.0), 0.0], dtype=torch.float64)) == pytest.approx(
        0.8112781245, abs=1e-9
    )
    # p = (1/2, 1/4, 1/4): H = 1.5 bits, / log2(3) bits = 0.9463946304
    assert normalised_entropy(torch.tensor([math.log(2.0), 0.0, 0.0], dtype=torch.float64)) == pytest.approx(
        0.9463946304, abs=1e-9
    )


def test_alpha_entropy_pools_every_mixed_op_of_the_four_networks():
    nets = build_supernets(3, 2, 4, "merged")
    with torch.no_grad():
        for _, net in nets.items():
            for p in net.arch_parameters():
                p.zero_()
    row = alpha_entropy(nets)
    assert set(row) == {
        "alpha_entropy",
        "alpha_entropy_g_a",
        "alpha_entropy_g_b",
        "alpha_entropy_d_a",
        "alpha_entropy_d_b",
    }
    assert all(v == pytest.approx(1.0) for v in row.values())
    # G_A one-hot everywhere: its mean is 0, the pooled mean is the share of G_A's mixed ops that are not G_A's
    with torch.no_grad():
        for p in nets.g_a.arch_parameters():
            p[0] = 100.0
    counts = {name: len(net.arch_parameters()) for name, net in nets.items()}
    row = alpha_entropy(nets)
    assert row["alpha_entropy_g_a"] == pytest.approx(0.0, abs=1e-12)
    assert row["alpha_entropy_g_b"] == pytest.approx(1.0)
    assert row["alpha_entropy"] == pytest.approx(1 - counts["g_a"] / sum(counts.values()))


def _choices(op):
    return {("g_a", "m0"): op}


def _rows(epoch, best):
    return [
        {"epoch": epoch, "network": "g_a", "mixed_op": "m0", "op": name, "alpha": 1.0 if name == best else 0.0}
        for name in ("conv", "skip")
    ]


def test_genotype_stable_since_walks_back_over_equal_epochs():
    rows = _rows(0, "conv") + _rows(1, "skip") + _rows(2, "conv") + _rows(3, "conv")
    assert genotype_stable_since(rows, _choices("conv"), 4) == 2
    assert genotype_stable_since(rows, _choices("skip"), 4) == 4
    assert genotype_stable_since(_rows(0, "conv"), _choices("conv"), 1) == 0


def test_of_alpha_lr_reaches_its_own_param_group(tiny_data):
    cfg = search_cfg(tiny_data, "optim.of_alpha_lr=0.05", "optim.lr=3e-4")
    nets = build_supernets(cfg.n_cells, cfg.hidden_dim, cfg.ndf, cfg.mixed_op_mode)
    strategy = build_strategy(nets, cfg)
    for opt, pair in ((strategy.opt_g, (nets.g_a, nets.g_b)), (strategy.opt_d, (nets.d_a, nets.d_b))):
        weights, alphas = opt.param_groups
        assert weights["lr"] == 3e-4 and alphas["lr"] == 0.05
        assert {id(p) for p in alphas["params"]} == {id(p) for net in pair for p in net.arch_parameters()}
        assert {id(p) for p in weights["params"]} == {id(p) for net in pair for p in net.weight_parameters()}
    # the paper's default: the alphas step at the weights' lr
    default = build_strategy(nets, search_cfg(tiny_data))
    assert [g["lr"] for g in default.opt_g.param_groups] == [2e-4, 2e-4]


def test_alpha_lr_factor_is_cyclegans_linear_rule_on_the_last_epochs():
    # 10 epochs, the last 4 decaying: 1 - (epoch - 6) / 5
    assert [alpha_lr_factor(e, 10, 4) for e in range(1, 11)] == pytest.approx([1] * 6 + [0.8, 0.6, 0.4, 0.2])
    assert [alpha_lr_factor(e, 3, 0) for e in (1, 2, 3)] == [1.0, 1.0, 1.0]  # 0: constant, the paper's
    assert [alpha_lr_factor(e, 3, 3) for e in (1, 2, 3)] == pytest.approx([0.75, 0.5, 0.25])


@pytest.mark.parametrize("scheme", sorted(STRATEGIES))
def test_alpha_lr_decay_sets_only_the_alpha_groups_of_every_scheme(tiny_data, tmp_path, scheme):
    cfg = search_cfg(
        tiny_data, f"scheme={scheme}", "epochs=4", "alpha_lr_decay_epochs=2", "max_iters_per_epoch=1", "optim.lr=3e-4"
    )
    job = SearchJob(cfg, RunDirectory(tmp_path / "run").prepare())
    base = job.strategy.alpha_lr()
    alpha_groups = {id(g) for g in job.strategy.alpha_param_groups()}
    alpha_params = {id(p) for g in job.strategy.alpha_param_groups() for p in g["params"]}
    assert alpha_params == {id(p) for _, net in job.nets.items() for p in net.arch_parameters()}
    for epoch, factor in zip((1, 2, 3, 4), (1.0, 1.0, 2 / 3, 1 / 3)):
        job.train_epoch(epoch, MeanMeter(), False)
        assert job.epoch_metrics(epoch)["alpha_lr"] == pytest.approx(base * factor)
        for opt in job.strategy.optimizers().values():
            for group in opt.param_groups:
                assert group["lr"] == pytest.approx(base * factor if id(group) in alpha_groups else 3e-4)


def test_alpha_lr_decay_epochs_must_fit_the_search(tiny_data):
    with pytest.raises(ConfigError, match=r"alpha_lr_decay_epochs: must be within 0..epochs \(3\), got 4"):
        search_cfg(tiny_data, "epochs=3", "alpha_lr_decay_epochs=4")


def test_of_alpha_lr_must_be_positive(tiny_data):
    with pytest.raises(ConfigError, match="optim.of_alpha_lr"):
        search_cfg(tiny_data, "optim.of_alpha_lr=0")


@pytest.mark.e2e  # a search or retrain run end to end (> 5 s)
def test_search_metrics_carry_decisiveness(tiny_data, tmp_path):
    run_search(search_cfg(tiny_data, "epochs=3", "optim.of_alpha_lr=0.5"), tmp_path / "run", progress=False)
    metrics = pd.read_parquet(tmp_path / "run" / "metrics.parquet")
    alphas = pd.read_parquet(tmp_path / "run" / "alpha_history.parquet")
    for epoch, row in metrics.set_index("epoch").iterrows():
        weights = alphas[alphas.epoch == epoch]
        per_op = weights.groupby(["network", "mixed_op"])["weight"].apply(
            lambda w: float(-(w * w.map(math.log)).sum() / math.log(len(w)))
        )
        assert row["alpha_entropy"] == pytest.approx(per_op.mean(), abs=1e-6)
        assert row["alpha_entropy_d_b"] == pytest.approx(per_op.loc["d_b"].mean(), abs=1e-6)
        assert row["alpha_lr"] == 0.5
        assert 0 <= row["genotype_stable_since"] <= epoch
    # a large alpha lr moves the mixing weights away from uniform within 9 steps
    assert metrics["alpha_entropy"].iloc[-1] < 0.999
    final = metrics.iloc[-1]
    since = int(final["genotype_stable_since"])
    genotype_cols = ["genotype_g_a", "genotype_g_b", "genotype_d_a", "genotype_d_b"]
    stable = metrics[metrics.epoch >= max(since, 1)][genotype_cols]
    assert (stable == final[genotype_cols]).all().all()
    if since > 1:
        assert (metrics[metrics.epoch == since - 1][genotype_cols].to_numpy() != final[genotype_cols].to_numpy()).any()

    # the report's decisiveness figure plots exactly these numbers; runs from before the columns get none
    files = decisiveness_curve(load_metrics(tmp_path / "run" / "metrics.parquet"), "run", tmp_path / "fig", "entropy")
    plotted = pd.read_csv(files.csv)
    assert files.png.stat().st_size > 0
    assert list(plotted["epoch"]) == [1, 2, 3]
    assert plotted["alpha_entropy"].to_numpy() == pytest.approx(metrics["alpha_entropy"].to_numpy())
    assert plotted["genotype_stable_since"].iloc[-1] == since
    assert decisiveness_curve(metrics.drop(columns=["alpha_entropy"]), "old", tmp_path / "fig", "old") is None


def test_decisions_are_spread_evenly_over_the_decision_epochs():
    # 28 mixed ops decided over epochs 3..7 of 10: 6, 6, 6, 5, 5 (ceil of what is left over the epochs left)
    left, due = 28, []
    for epoch in range(1, 11):
        n = decisions_due(epoch, 3, 7, left)
        due.append(n)
        left -= n
    assert due == [0, 0, 6, 6, 6, 5, 5, 0, 0, 0] and left == 0
    assert [decisions_due(e, 0, 0, 28) for e in (1, 5, 10)] == [0, 0, 0]  # 0, 0: no decisions, the paper's
    assert decisions_due(4, 4, 4, 9) == 9


def test_greedy_decision_fixes_the_most_certain_mixed_ops_to_their_argmax():
    nets = build_supernets(3, 2, 4, "merged")
    ops = undecided_ops(nets)
    with torch.no_grad():
        for _, _, op in ops:
            op.alpha.zero_()
        # hand-made certainties: d_b's first mixed op almost one-hot (on its last candidate), g_b's second less so,
        # g_a's first a little; every other op uniform
        (_, _, g_a0), (_, _, d_b0) = ops[0], next(o for o in ops if o[0] == "d_b")
        g_b1 = [o for o in ops if o[0] == "g_b"][1][2]
        d_b0.alpha[-1], g_b1.alpha[1], g_a0.alpha[0] = 9.0, 3.0, 0.5
    decided = decide_mixed_ops(nets, 2)
    assert decided == [
        ("d_b", next(o for o in ops if o[0] == "d_b")[1], d_b0.op_names[-1]),
        ("g_b", [o for o in ops if o[0] == "g_b"][1][1], g_b1.op_names[1]),
    ]
    assert len(undecided_ops(nets)) == len(ops) - 2 and g_a0.decided is None
    assert sorted(decisions(nets)) == sorted(decided)
    # a decided op no longer mixes: it is its candidate alone, whatever its alphas do later
    c_in = next(slot.c_in for slot, op in nets.d_b.mixed_ops() if op is d_b0)
    x = torch.randn(2, c_in, 8, 8)
    with torch.no_grad():
        d_b0.alpha.copy_(torch.tensor([5.0] + [0.0] * (len(d_b0.op_names) - 1)))
    torch.testing.assert_close(d_b0(x), d_b0.ops[d_b0.op_names[-1]](x), rtol=0, atol=0)
    assert d_b0.derive() == d_b0.op_names[-1]
    with pytest.raises(ValueError, match="not a candidate"):
        g_a0.decide("no_such_op")


def test_decision_epochs_must_come_in_pairs_and_fit_the_search(tiny_data):
    with pytest.raises(ConfigError, match=r"decide_by_epoch: greedy decisions need both"):
        search_cfg(tiny_data, "epochs=3", "decide_from_epoch=2")
    with pytest.raises(
        ConfigError, match=r"decide_by_epoch: need 1 <= decide_from_epoch \(2\) <= decide_by_epoch \(4\)"
    ):
        search_cfg(tiny_data, "epochs=3", "decide_from_epoch=2", "decide_by_epoch=4")
    with pytest.raises(ConfigError, match=r"decide_by_epoch: need"):
        search_cfg(tiny_data, "epochs=3", "decide_from_epoch=3", "decide_by_epoch=2")


@pytest.mark.e2e  # a search or retrain run end to end (> 5 s)
def test_a_deciding_search_fixes_every_op_by_its_last_decision_epoch(tiny_data, tmp_path):
    cfg = search_cfg(tiny_data, "epochs=4", "decide_from_epoch=2", "decide_by_epoch=3", "optim.of_alpha_lr=0.5")
    result = run_search(cfg, tmp_path / "run", progress=False)
    metrics = pd.read_parquet(tmp_path / "run" / "metrics.parquet").set_index("epoch")
    total = len(undecided_ops(build_supernets(cfg.n_cells, cfg.hidden_dim, cfg.ndf, cfg.mixed_op_mode)))
    assert list(metrics["decided_ops"]) == [0, math.ceil(total / 2), total, total]
    # decided from epoch 3 on: the genotype cannot change after it
    assert metrics.loc[4, "genotype_stable_since"] <= 3
    alphas = pd.read_parquet(tmp_path / "run" / "alpha_history.parquet")
    assert (
        alphas[alphas.epoch == 3].set_index(["network", "mixed_op", "op"])["alpha"]
        == alphas[alphas.epoch == 4].set_index(["network", "mixed_op", "op"])["alpha"]
    ).all()  # a decided op's alpha gets no gradient, so Adam leaves it where it was
    saved = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["job"]["decisions"]
    assert len(saved) == total
    # the report's decisiveness figure plots the decisions next to the entropy
    files = decisiveness_curve(load_metrics(tmp_path / "run" / "metrics.parquet"), "run", tmp_path / "fig", "entropy")
    assert list(pd.read_csv(files.csv)["decided_ops"]) == list(metrics["decided_ops"])
    # each op was fixed to its argmax, and its frozen alphas keep saying so
    assert {(n, s): o for n, s, o in saved} == recorded_choices(alphas.to_dict("records"))[4]
    assert set(result.genotypes) == {"g_a", "g_b", "d_a", "d_b"}
