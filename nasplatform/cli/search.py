"""`nasplatform search`: one architecture search run (OF, TF, TH or THS) on a CycleGAN-layout dataset."""

from __future__ import annotations

import argparse

from nasplatform.cli import CliError
from nasplatform.cli.options import add_config_flags, build_config, load_size_for
from nasplatform.engine.config import SearchConfig
from nasplatform.engine.search import resume_search, run_search


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("search", help="search G_A, G_B, D_A, D_B architectures")
    parser.add_argument("--data", help="dataset folder with trainA/trainB/testA/testB")
    parser.add_argument("--scheme", choices=["OF", "TF", "TH", "THS"], help="search scheme (default OF)")
    parser.add_argument("--epochs", type=int, help="search epochs (paper: 400)")
    parser.add_argument("--image-size", type=int, help="crop size; load size follows CycleGAN's 286/256 ratio")
    parser.add_argument("--hidden-dim", type=int, help="H during search (default 16)")
    parser.add_argument("--n-cells", type=int, help="N, generator cells (default 11)")
    parser.add_argument("--out", help="run directory to create")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its last checkpoint")
    add_config_flags(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    progress = not args.no_progress
    if args.resume:
        result = resume_search(args.resume, progress=progress)
    else:
        if not args.out or not (args.data or args.config):
            raise CliError("--out and --data (or --config) are required unless --resume is given")
        flags = {"data.root": args.data, "scheme": args.scheme, "epochs": args.epochs, "hidden_dim": args.hidden_dim,
                 "n_cells": args.n_cells, "data.crop_size": args.image_size,
                 "data.load_size": load_size_for(args.image_size) if args.image_size else None}
        result = run_search(build_config(SearchConfig, args, flags), args.out, progress=progress)
    outcome = result.outcome
    print(f"search {outcome.status}: {outcome.epochs_done} epochs in {result.run_dir}")
    for name, genotype in result.genotypes.items():
        print(f"  {name}: {genotype.to_json()}")
    print(f"genotypes: {result.run_dir / 'genotypes.json'}")
    return 0 if outcome.status == "ok" else 3
