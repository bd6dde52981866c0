"""`nasplatform search`: one architecture search run (a scheme of engine/strategies.py) on a CycleGAN-layout dataset."""

from __future__ import annotations

import argparse

from nasplatform.cli.options import add_run_parser, run_or_resume
from nasplatform.engine.config import SearchConfig, scheme_names
from nasplatform.engine.search import resume_search, run_search


def register(sub: argparse._SubParsersAction) -> None:
    parser = add_run_parser(sub, "search", "search G_A, G_B, D_A, D_B architectures", add_search_flags)
    parser.set_defaults(func=run)


def add_search_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scheme", choices=scheme_names(), help="search scheme (default OF)")
    parser.add_argument("--epochs", type=int, help="search epochs (paper: 400)")
    parser.add_argument("--hidden-dim", type=int, help="H during search (default 16)")
    parser.add_argument("--n-cells", type=int, help="N, generator cells (default 11)")


def config_flags(args: argparse.Namespace) -> dict:
    """This command's own flags as SearchConfig keys (tests/test_run_shared.py checks each reaches its key)."""
    return {"scheme": args.scheme, "epochs": args.epochs, "hidden_dim": args.hidden_dim, "n_cells": args.n_cells}


def run(args: argparse.Namespace) -> int:
    result = run_or_resume(args, SearchConfig, config_flags(args), run_search, resume_search)
    outcome = result.outcome
    print(f"search {outcome.status}: {outcome.epochs_done} epochs in {result.run_dir}")
    for name, genotype in result.genotypes.items():
        print(f"  {name}: {genotype.to_json()}")
    print(f"genotypes: {result.run_dir / 'genotypes.json'}")
    return 0 if outcome.status == "ok" else 3
