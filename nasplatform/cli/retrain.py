"""`nasplatform retrain`: train discrete generators from genotypes.json or `cyclegan` like CycleGAN."""

from __future__ import annotations

import argparse

from nasplatform.cli.options import add_run_parser, run_or_resume
from nasplatform.engine.config import RetrainConfig
from nasplatform.engine.retrain import resume_retrain, run_retrain


def register(sub: argparse._SubParsersAction) -> None:
    parser = add_run_parser(sub, "retrain", "retrain searched or baseline architectures", add_retrain_flags)
    parser.set_defaults(func=run)


def add_retrain_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--genotypes", metavar="FILE|cyclegan", help="genotypes.json of a search, or 'cyclegan'")
    parser.add_argument("--hidden-dim", type=int, help="H of G_A (and of G_B unless --hidden-dim-b)")
    parser.add_argument("--hidden-dim-b", type=int, help="H of G_B, when it differs (C'-models)")
    parser.add_argument("--epochs", type=int, help="epochs at constant lr (n_epochs); decay epochs via --decay-epochs")
    parser.add_argument("--decay-epochs", type=int, help="epochs of linear decay to 0 (n_epochs_decay)")
    parser.add_argument("--discriminator", choices=["patchgan", "searched"], help="baseline PatchGAN or searched D")


def run(args: argparse.Namespace) -> int:
    flags = {"genotypes": args.genotypes, "hidden_dim": args.hidden_dim, "hidden_dim_b": args.hidden_dim_b,
             "n_epochs": args.epochs, "n_epochs_decay": args.decay_epochs, "discriminator": args.discriminator}
    result = run_or_resume(args, RetrainConfig, flags, run_retrain, resume_retrain)
    outcome = result.outcome
    print(f"retrain {outcome.status}: {outcome.epochs_done} epochs in {result.run_dir}")
    print(f"generators: {result.run_dir / 'final'}")
    return 0 if outcome.status == "ok" else 3
