"""`nasplatform retrain`: train discrete generators from genotypes.json or `cyclegan` like CycleGAN."""

from __future__ import annotations

import argparse

from nasplatform.cli import CliError
from nasplatform.cli.options import add_run_parser, run_or_resume
from nasplatform.engine.config import RetrainConfig
from nasplatform.engine.retrain import resume_retrain, run_retrain


def register(sub: argparse._SubParsersAction) -> None:
    parser = add_run_parser(sub, "retrain", "retrain searched or baseline architectures", add_retrain_flags)
    parser.set_defaults(func=run)


def add_retrain_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--genotypes", metavar="FILE|cyclegan", help="genotypes.json of a search, or 'cyclegan'")
    parser.add_argument("--hidden-dim", type=int, help="H of both generators, as in search")
    parser.add_argument("--hidden-dim-a", type=int, help="H of G_A (config key hidden_dim_a; wins over --hidden-dim)")
    parser.add_argument("--hidden-dim-b", type=int, help="H of G_B (hidden_dim_b), when it differs (C'-models)")
    parser.add_argument(
        "--epochs",
        type=int,
        help="epochs in all, as in search (paper/CycleGAN: 200); the last "
        "--decay-epochs of them decay the lr linearly to 0 (default: half, CycleGAN's 100 + 100)",
    )
    parser.add_argument("--decay-epochs", type=int, help="epochs of linear lr decay to 0 (config key n_epochs_decay)")
    parser.add_argument("--discriminator", choices=["patchgan", "searched"], help="baseline PatchGAN or searched D")


def epoch_keys(epochs: int | None, decay_epochs: int | None) -> dict:
    """--epochs (the total, like search's) and --decay-epochs as the config keys n_epochs (constant lr) and
    n_epochs_decay; without --decay-epochs the decay is the second half, CycleGAN's 100 + 100 (docs/design.md §5.1)."""
    if epochs is None:
        return {"n_epochs_decay": decay_epochs}
    if epochs < 1:
        raise CliError(f"--epochs {epochs}: must be at least 1 (it is the total number of epochs)")
    decay = epochs // 2 if decay_epochs is None else decay_epochs
    if not 0 <= decay <= epochs:
        raise CliError(
            f"--decay-epochs {decay}: must be within 0..--epochs ({epochs}), the decay epochs are part of the total"
        )
    return {"n_epochs": epochs - decay, "n_epochs_decay": decay}


def config_flags(args: argparse.Namespace) -> dict:
    """This command's own flags as RetrainConfig keys (tests/test_run_shared.py checks each reaches its key)."""

    def either(own):
        return own if own is not None else args.hidden_dim

    return {
        "genotypes": args.genotypes,
        "hidden_dim_a": either(args.hidden_dim_a),
        "hidden_dim_b": either(args.hidden_dim_b),
        **epoch_keys(args.epochs, args.decay_epochs),
        "discriminator": args.discriminator,
    }


def run(args: argparse.Namespace) -> int:
    result = run_or_resume(args, RetrainConfig, config_flags(args), run_retrain, resume_retrain)
    outcome = result.outcome
    print(f"retrain {outcome.status}: {outcome.epochs_done} epochs in {result.run_dir}")
    print(f"generators: {result.run_dir / 'final'}")
    return 0 if outcome.status == "ok" else 3
