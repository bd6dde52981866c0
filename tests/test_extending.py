"""Extension points (docs/extending.md): a toy scheme and a toy op, registered from this module alone through the
public registry functions, run a tiny search; afterwards the registries are as they were."""

import argparse
import json

import pandas as pd
import pytest
import torch

from nasplatform.cli.search import add_search_flags
from nasplatform.data.dataset import UnpairedDataset
from nasplatform.engine.config import ConfigError, SearchConfig, apply_overrides, from_dict, scheme_names
from nasplatform.engine.loop import MeanMeter, endless_batches
from nasplatform.engine.rundir import RunDirectory
from nasplatform.engine.search import SearchJob, run_search
from nasplatform.engine.strategies import (
    FULL_SPLIT,
    HALF2,
    STRATEGIES,
    Split,
    TwoStep,
    register_strategy,
    unregister_strategy,
)
from nasplatform.nets import Generator
from nasplatform.ops import OPS, MixedOp, register_op, unregister_op
from nasplatform.ops.primitives import ConvOp
from nasplatform.space import OP_SETS, CellType, GeneratorGenotype, GenotypeError, search_space_size

TINY = ["n_cells=3", "hidden_dim=2", "ndf=4", "data.crop_size=32", "data.load_size=36"]
TOY_SCHEME, TOY_OP = "TOY", "conv1x1"
#: The toy scheme's alpha data: the second half of A and B, with pairing draws of its own (seed + 7).
TOY_ALPHA_SPLIT = Split(HALF2, seed_offset=7)
TOY_OP_CELLS = (CellType.ENCODING, CellType.RESIDUAL)


class FullWeightsHalfAlphas(TwoStep):
    """A bi-level toy: weights step on all the training data, alphas on the second half with their own draws.
    It keeps the batches it is fed, so the test can see where they came from."""

    name = TOY_SCHEME
    splits = (FULL_SPLIT, TOY_ALPHA_SPLIT)
    fed: list[tuple[dict, dict]] = []

    def data_roles(self, epoch):
        return FULL_SPLIT, TOY_ALPHA_SPLIT

    def step(self, w_batch, alpha_batch):
        self.fed.append((w_batch, alpha_batch))
        return super().step(w_batch, alpha_batch)


def toy_op(c_in: int, c_out: int, stride: int, padding_mode: str):
    """A 1x1 convolution (the OpFactory signature): linear, so the merged mixed op folds it into its kernel."""
    return ConvOp(c_in, c_out, 1, 1, stride, padding_mode)


def registries() -> tuple:
    return dict(STRATEGIES), scheme_names(), dict(OPS), dict(OP_SETS)


@pytest.fixture
def toy_extensions():
    """The toy scheme and op registered for one test, and removed afterwards whatever the test did."""
    before = registries()
    FullWeightsHalfAlphas.fed = []
    register_strategy(FullWeightsHalfAlphas)
    register_op(TOY_OP, toy_op, TOY_OP_CELLS)
    try:
        yield
    finally:
        unregister_op(TOY_OP)
        unregister_strategy(TOY_SCHEME)
    assert registries() == before, "unregistering left the registries changed"


def search_cfg(root, *overrides) -> SearchConfig:
    return apply_overrides(from_dict(SearchConfig, {}), [f"data.root={root}", *TINY, *overrides])


def indices(batches, domain: str) -> set[int]:
    return {int(i) for b in batches for i in b[f"{domain.lower()}_index"]}


def test_a_registered_scheme_and_op_run_a_search(tiny_data, tmp_path, toy_extensions):
    cfg = search_cfg(tiny_data, f"scheme={TOY_SCHEME}", "epochs=1")  # config validation takes the new name
    result = run_search(cfg, tmp_path / "run", progress=False)
    run = tmp_path / "run"
    assert result.outcome.status == "ok" and result.outcome.epochs_done == 1

    # the toy op is a candidate of every encoding and residual mixed op of all four supernets, not of decoding ones
    alphas = pd.read_parquet(run / "alpha_history.parquet")
    candidates = alphas[alphas.epoch == 1].groupby(["network", "mixed_op", "cell_type"])["op"].apply(list)
    assert len(candidates) == 2 * 6 + 2 * 4  # two generators of N = 3 (6 slots), two discriminators (4 slots)
    for (network, slot, cell_type), ops in candidates.items():
        with_toy = CellType(cell_type) in TOY_OP_CELLS
        assert (TOY_OP in ops) == with_toy, f"{network} {slot}: candidates {ops}"
        assert len(ops) == len(OP_SETS[CellType(cell_type)]), f"{network} {slot}: one alpha per candidate"

    # the toy scheme's declared splits fed its steps: the weights walked all of the full data once (B, the longer
    # domain, in order), the alphas drew only from the second halves, as the declared Split's own view of them
    fed = FullWeightsHalfAlphas.fed
    assert len(fed) == 7
    w_batches, alpha_batches = [w for w, _ in fed], [a for _, a in fed]
    assert indices(w_batches, "B") == set(range(7))
    halves = json.loads((run / "splits.json").read_text())
    for domain in ("A", "B"):
        assert indices(alpha_batches, domain) <= set(halves[domain]["half2"]), f"alpha drew {domain} outside half2"
    declared = UnpairedDataset(
        cfg.data,
        "train",
        seed=cfg.seed + TOY_ALPHA_SPLIT.seed_offset,
        indices_a=halves["A"]["half2"],
        indices_b=halves["B"]["half2"],
    )
    first = next(endless_batches(declared, 1, cfg.seed + 1, cfg.batch_size, cfg.device))
    assert torch.equal(first["a"], alpha_batches[0]["a"]) and torch.equal(first["b"], alpha_batches[0]["b"])
    metrics = pd.read_parquet(run / "metrics.parquet")
    assert list(metrics["w_data"]) == ["full"] and list(metrics["alpha_data"]) == ["half2"]
    assert metrics["alpha_loss_g"].notna().all()

    # a genotype that chooses the toy op is valid, builds a discrete generator and runs
    genotype = GeneratorGenotype(
        encoding=(TOY_OP, "conv3x3"), residual=((TOY_OP, TOY_OP),), decoding=("nearest", "nearest")
    )
    with torch.no_grad():
        assert Generator(genotype, hidden_dim=2)(torch.zeros(1, 3, 32, 32)).shape == (1, 3, 32, 32)


def test_the_toy_op_joins_the_merged_kernel_exactly_and_grows_the_space(toy_extensions):
    torch.manual_seed(0)
    op = MixedOp(CellType.RESIDUAL, 3, 3, mode="merged")
    assert op.op_names[-1] == TOY_OP and op.alpha.shape == (len(OP_SETS[CellType.RESIDUAL]),)
    with torch.no_grad():
        op.alpha.normal_()
        x = torch.randn(1, 3, 16, 16)
        merged = op(x)
        op.mode = "reference"
        assert torch.allclose(merged, op(x), atol=1e-5)
    assert search_space_size(3).generator == 9**2 * 6**2 * 3**2


def test_registration_is_undone_and_unknown_names_are_refused(toy_extensions):
    assert TOY_SCHEME in scheme_names() and TOY_OP in OP_SETS[CellType.ENCODING]
    with pytest.raises(KeyError, match="already registered"):
        register_strategy(FullWeightsHalfAlphas)
    unregister_op(TOY_OP)
    unregister_strategy(TOY_SCHEME)
    with pytest.raises(ConfigError, match="scheme: must be one of 'OF', 'TF', 'TH', 'THS', got 'TOY'"):
        from_dict(SearchConfig, {"scheme": TOY_SCHEME})
    with pytest.raises(GenotypeError, match="unknown op 'conv1x1'"):
        GeneratorGenotype(encoding=(TOY_OP, "conv3x3"), residual=(("conv3x3",) * 2,), decoding=("nearest",) * 2)
    register_strategy(FullWeightsHalfAlphas)  # the fixture removes them again
    register_op(TOY_OP, toy_op, TOY_OP_CELLS)


class Undeclared(FullWeightsHalfAlphas):
    """Draws its alpha data from a split it does not declare."""

    name = "UNDECLARED"

    def data_roles(self, epoch):
        return FULL_SPLIT, Split(HALF2, seed_offset=8)


def test_a_strategy_must_declare_the_splits_it_draws_from(tiny_data, tmp_path):
    class NoSplits(TwoStep):
        name = "NOSPLITS"

        def data_roles(self, epoch):
            return FULL_SPLIT, FULL_SPLIT

    with pytest.raises(TypeError, match="NoSplits.splits must declare"):
        register_strategy(NoSplits)
    assert "NOSPLITS" not in scheme_names()
    register_strategy(Undeclared)
    try:
        job = SearchJob(
            search_cfg(tiny_data, "scheme=UNDECLARED", "epochs=1", "max_iters_per_epoch=1"),
            RunDirectory(tmp_path / "run").prepare(),
        )
        with pytest.raises(
            KeyError, match=r"scheme UNDECLARED: the strategy drew from Split\(part='half2', seed_offset=8\)"
        ):
            job.train_epoch(1, MeanMeter(), False)
    finally:
        unregister_strategy("UNDECLARED")


def test_the_scheme_names_configs_check_are_the_strategies_the_search_runs():
    """The strategies are the one list of schemes: configs, the CLI and benchmarks read STRATEGIES' keys (the paper's
    four in its order), and every op of every op set has a factory."""
    assert scheme_names() == tuple(STRATEGIES) == ("OF", "TF", "TH", "THS")
    parser = argparse.ArgumentParser()
    add_search_flags(parser)
    (scheme_flag,) = [a for a in parser._actions if a.dest == "scheme"]
    assert tuple(scheme_flag.choices) == tuple(STRATEGIES)
    assert all(name in OPS for ops in OP_SETS.values() for name in ops)
