"""End-to-end search and retrain at 32x32: every scheme, splits, resume equality, divergence, schedules."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from nasplatform.data.dataset import UnpairedDataset
from nasplatform.engine.checkpoint import load_checkpoint
from nasplatform.engine.config import RetrainConfig, SearchConfig, apply_overrides, from_dict
from nasplatform.engine.loop import epoch_batches, iterations_per_epoch
from nasplatform.engine.retrain import run_retrain
from nasplatform.engine.search import resume_search, run_search
from nasplatform.engine.strategies import STRATEGIES
from nasplatform.space import NETWORK_NAMES, genotype_from_dict

TINY = ["n_cells=3", "hidden_dim=2", "ndf=4", "max_iters_per_epoch=3", "data.crop_size=32", "data.load_size=36"]


def search_cfg(root, *overrides):
    return apply_overrides(from_dict(SearchConfig, {}), [f"data.root={root}", *TINY, *overrides])


class Interrupt(Exception):
    pass


def interrupt_after(epoch):
    def callback(row, checkpoint):
        if row["epoch"] == epoch:
            raise Interrupt

    return callback


@pytest.mark.parametrize("scheme", list(STRATEGIES))
def test_search_each_scheme(tiny_data, tmp_path, scheme):
    result = run_search(search_cfg(tiny_data, f"scheme={scheme}", "epochs=2"), tmp_path / "run", progress=False)
    run = tmp_path / "run"
    assert result.outcome.status == "ok" and result.outcome.epochs_done == 2
    genotypes = json.loads((run / "genotypes.json").read_text())
    assert set(genotypes) == set(NETWORK_NAMES)
    assert genotype_from_dict(genotypes["g_a"]).n_cells == 3
    metrics = pd.read_parquet(run / "metrics.parquet")
    assert list(metrics["epoch"]) == [1, 2] and (metrics["status"] == "ok").all()
    assert (metrics["iterations"] == 3).all()
    for column in ("loss_g", "loss_cyc", "loss_idt", "loss_d_a", "loss_d_b", "wall_time_s", "genotype_g_b"):
        assert column in metrics and metrics[column].notna().all(), column
    if scheme != "OF":
        assert metrics["alpha_loss_g"].notna().all()
    alphas = pd.read_parquet(run / "alpha_history.parquet")
    assert sorted(alphas["epoch"].unique()) == [0, 1, 2]
    assert set(alphas["network"]) == set(NETWORK_NAMES)
    sums = alphas.groupby(["epoch", "network", "mixed_op"])["weight"].sum()
    assert np.allclose(sums, 1.0, atol=1e-5)
    # the alphas of every network moved away from their initial values (one max over all four would pass
    # with the generators' alphas frozen)
    for network in NETWORK_NAMES:
        mine = alphas[alphas.network == network]
        first = mine[mine.epoch == 0]["alpha"].to_numpy()
        last = mine[mine.epoch == 2]["alpha"].to_numpy()
        assert len(first) == len(last) > 0 and np.abs(first - last).max() > 1e-5, network
    grid = Image.open(run / "samples" / "epoch_0002.png")
    assert grid.size == (6 * 96, 3 * 96)  # one row per test pair (3 here), 32 px tiles shown at 96
    state = load_checkpoint(run / "checkpoints" / "last.pt")
    assert int(state["epoch"]) == 2


def test_th_halves_disjoint_and_covering(tiny_data, tmp_path):
    run_search(search_cfg(tiny_data, "scheme=TH", "epochs=1"), tmp_path / "run", progress=False)
    splits = json.loads((tmp_path / "run" / "splits.json").read_text())
    for domain, n in (("A", 6), ("B", 7)):
        h1, h2 = set(splits[domain]["half1"]), set(splits[domain]["half2"])
        assert not h1 & h2 and h1 | h2 == set(range(n)) and abs(len(h1) - len(h2)) <= 1


def test_ths_swaps_at_configured_epoch(tiny_data, tmp_path):
    run_search(search_cfg(tiny_data, "scheme=THS", "epochs=3", "swap_epoch=1"), tmp_path / "run", progress=False)
    metrics = pd.read_parquet(tmp_path / "run" / "metrics.parquet")
    assert list(metrics["w_data"]) == ["half1", "half2", "half2"]
    assert list(metrics["alpha_data"]) == ["half2", "half1", "half1"]


LOSS_COLUMNS = ["loss_g", "loss_adv_a2b", "loss_cyc", "loss_idt", "loss_d_a", "loss_d_b"]


@pytest.mark.parametrize("scheme", ["OF", "THS"])
@pytest.mark.e2e  # a search or retrain run end to end (> 5 s)
def test_interrupted_and_resumed_equals_uninterrupted(tiny_data, tmp_path, scheme):
    cfg = search_cfg(tiny_data, f"scheme={scheme}", "epochs=3", "swap_epoch=2")
    straight = run_search(cfg, tmp_path / "straight", progress=False)
    with pytest.raises(Interrupt):
        run_search(cfg, tmp_path / "resumed", on_epoch=interrupt_after(2), progress=False)
    assert int(load_checkpoint(tmp_path / "resumed" / "checkpoints" / "last.pt")["epoch"]) == 2
    resumed = resume_search(tmp_path / "resumed", progress=False)
    a = pd.read_parquet(tmp_path / "straight" / "metrics.parquet")
    b = pd.read_parquet(tmp_path / "resumed" / "metrics.parquet")
    assert list(b["epoch"]) == [1, 2, 3]
    np.testing.assert_allclose(a[LOSS_COLUMNS].to_numpy(), b[LOSS_COLUMNS].to_numpy(), rtol=1e-6)
    assert straight.genotypes == resumed.genotypes
    alphas_a = pd.read_parquet(tmp_path / "straight" / "alpha_history.parquet")
    alphas_b = pd.read_parquet(tmp_path / "resumed" / "alpha_history.parquet")
    np.testing.assert_allclose(alphas_a["alpha"], alphas_b["alpha"], rtol=1e-6)


def test_divergence_stops_with_status(tiny_data, tmp_path):
    result = run_search(search_cfg(tiny_data, "epochs=2", "loss.lambda_cyc=1e38"), tmp_path / "run", progress=False)
    assert result.outcome.status == "diverged" and result.outcome.epochs_done == 0
    metrics = pd.read_parquet(tmp_path / "run" / "metrics.parquet")
    assert list(metrics["status"]) == ["diverged"] and "loss_g" in metrics["message"][0]
    assert not (tmp_path / "run" / "checkpoints" / "last.pt").exists()


def test_divergence_keeps_last_good_checkpoint(tiny_data, tmp_path, monkeypatch):
    from nasplatform.engine import strategies

    real_step = strategies.OneStepFull.step

    def step(self, w_batch, alpha_batch):
        losses = real_step(self, w_batch, alpha_batch)
        if self.nets.g_a.training and getattr(self, "_epoch_marker", 0) >= 3:
            losses["loss_g"] = float("nan")
        self._epoch_marker = getattr(self, "_epoch_marker", 0) + 1
        return losses

    monkeypatch.setattr(strategies.OneStepFull, "step", step)
    result = run_search(search_cfg(tiny_data, "epochs=3"), tmp_path / "run", progress=False)
    assert result.outcome.status == "diverged" and result.outcome.epochs_done == 1
    assert int(load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["epoch"]) == 1
    assert list(pd.read_parquet(tmp_path / "run" / "metrics.parquet")["status"]) == ["ok", "diverged"]


def test_gumbel_temperature_anneals(tiny_data, tmp_path):
    run_search(search_cfg(tiny_data, "epochs=3", "gumbel=true"), tmp_path / "run", progress=False)
    taus = pd.read_parquet(tmp_path / "run" / "metrics.parquet")["gumbel_tau"].to_numpy()
    np.testing.assert_allclose(taus, [5.0, np.sqrt(5.0 * 0.1), 0.1], rtol=1e-6)


def retrain_cfg(root, *overrides):
    base = [
        f"data.root={root}",
        "hidden_dim=2",
        "ndf=4",
        "max_iters_per_epoch=3",
        "data.crop_size=32",
        "data.load_size=36",
    ]
    return apply_overrides(from_dict(RetrainConfig, {}), [*base, *overrides])


def test_retrain_searched_genotypes_with_lr_decay(tiny_data, tmp_path):
    run_search(search_cfg(tiny_data, "epochs=1"), tmp_path / "search", progress=False)
    cfg = retrain_cfg(
        tiny_data,
        f"genotypes={tmp_path / 'search' / 'genotypes.json'}",
        "hidden_dim_b=3",
        "n_epochs=1",
        "n_epochs_decay=2",
    )
    result = run_retrain(cfg, tmp_path / "retrain", progress=False)
    assert result.outcome.status == "ok" and result.outcome.epochs_done == 3
    lrs = pd.read_parquet(tmp_path / "retrain" / "metrics.parquet")["lr"].to_numpy()
    np.testing.assert_allclose(lrs, [2e-4, 2e-4 * 2 / 3, 2e-4 / 3], rtol=1e-6)
    meta = json.loads((tmp_path / "retrain" / "final" / "meta.json").read_text())
    assert (meta["hidden_dim_a"], meta["hidden_dim_b"]) == (2, 3)
    state = load_checkpoint(tmp_path / "retrain" / "final" / "g_b.pt")
    assert state["stem.1.weight"].shape[0] == 3


@pytest.mark.e2e  # a search or retrain run end to end (> 5 s)
def test_retrain_resume_equals_uninterrupted(tiny_data, tmp_path):
    cfg = retrain_cfg(tiny_data, "genotypes=cyclegan", "n_epochs=1", "n_epochs_decay=1")
    run_retrain(cfg, tmp_path / "straight", progress=False)
    with pytest.raises(Interrupt):
        run_retrain(cfg, tmp_path / "resumed", on_epoch=interrupt_after(1), progress=False)
    run_retrain(cfg, tmp_path / "resumed", progress=False)
    a = pd.read_parquet(tmp_path / "straight" / "metrics.parquet")
    b = pd.read_parquet(tmp_path / "resumed" / "metrics.parquet")
    np.testing.assert_allclose(a[LOSS_COLUMNS].to_numpy(), b[LOSS_COLUMNS].to_numpy(), rtol=1e-6)
    wa = load_checkpoint(tmp_path / "straight" / "final" / "g_a.pt")
    wb = load_checkpoint(tmp_path / "resumed" / "final" / "g_a.pt")
    assert all(torch.allclose(wa[k], wb[k]) for k in wa)


@pytest.mark.e2e  # a search or retrain run end to end (> 5 s)
def test_retrain_with_validation_split(tiny_data, tmp_path):
    cfg = retrain_cfg(tiny_data, "genotypes=cyclegan", "n_epochs=1", "n_epochs_decay=0", "val_fraction=0.34")
    run_retrain(cfg, tmp_path / "run", progress=False)
    splits = json.loads((tmp_path / "run" / "splits.json").read_text())
    assert len(splits["A"]["val"]) == 2 and not set(splits["A"]["val"]) & set(splits["A"]["train"])


def test_cli_search_then_retrain(tiny_data, tmp_path, capsys):
    from nasplatform.cli import main

    common = [
        "--data",
        str(tiny_data),
        "--image-size",
        "32",
        "--hidden-dim",
        "2",
        "--no-progress",
        "--set",
        "max_iters_per_epoch=2",
        "--set",
        "ndf=4",
    ]
    assert (
        main(["search", *common, "--scheme", "OF", "--epochs", "1", "--n-cells", "3", "--out", str(tmp_path / "s")])
        == 0
    )
    assert "genotypes:" in capsys.readouterr().out
    assert (
        main(
            [
                "retrain",
                *common,
                "--genotypes",
                str(tmp_path / "s" / "genotypes.json"),
                "--epochs",
                "1",
                "--decay-epochs",
                "0",
                "--out",
                str(tmp_path / "r"),
            ]
        )
        == 0
    )
    assert (tmp_path / "r" / "final" / "g_a.pt").exists()
    # --resume of a finished run continues at nothing and succeeds
    assert main(["search", "--resume", str(tmp_path / "s"), "--no-progress"]) == 0


def test_cli_unknown_key_names_it(tiny_data, tmp_path, capsys):
    from nasplatform.cli import main

    code = main(["search", "--data", str(tiny_data), "--out", str(tmp_path / "s"), "--set", "optim.lrr=1"])
    assert code == 2 and "optim.lrr" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_bad_genotypes_file_names_file(tiny_data, tmp_path):
    from nasplatform.space import GenotypeError

    bad = tmp_path / "genotypes.json"
    bad.write_text(
        json.dumps(
            {
                "g_a": {
                    "encoding": ["conv3x3", "conv3x3"],
                    "residual": [["conv3x3", "nope"]],
                    "decoding": ["nearest", "nearest"],
                },
                "g_b": "cyclegan",
            }
        )
    )
    with pytest.raises(GenotypeError, match=r"genotypes.json: g_a.residual\[0\]\[1\]"):
        run_retrain(
            retrain_cfg(tiny_data, f"genotypes={bad}", "n_epochs=1", "n_epochs_decay=0"), tmp_path / "r", progress=False
        )


def test_rerun_with_other_config_is_refused(tiny_data, tmp_path):
    from nasplatform.engine.config import ConfigError

    run_search(search_cfg(tiny_data, "epochs=1"), tmp_path / "run", progress=False)
    with pytest.raises(ConfigError, match="hidden_dim"):
        run_search(search_cfg(tiny_data, "epochs=1", "hidden_dim=3"), tmp_path / "run", progress=False)


@pytest.mark.parametrize(("batch_size", "limit"), [(1, None), (4, None), (3, None), (4, 1), (2, 99)])
def test_the_progress_bars_total_is_the_number_of_batches_an_epoch_yields(tiny_data, batch_size, limit):
    cfg = search_cfg(tiny_data).data
    data = UnpairedDataset(cfg, "train", seed=0)  # 7 items (trainB's 7 images)
    batches = list(epoch_batches(data, 1, 0, batch_size, "cpu", limit))
    assert iterations_per_epoch(len(data), batch_size, limit) == len(batches)
    assert sum(len(b["a"]) for b in batches) == (len(data) if limit is None else min(len(data), limit * batch_size))
