"""`nasplatform retrain`: train discrete generators from genotypes.json or `cyclegan` like CycleGAN."""

from __future__ import annotations

import argparse

from nasplatform.cli import CliError
from nasplatform.cli.options import add_config_flags, build_config, load_size_for
from nasplatform.engine.config import RetrainConfig
from nasplatform.engine.retrain import resume_retrain, run_retrain


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("retrain", help="retrain searched or baseline architectures")
    parser.add_argument("--data", help="dataset folder with trainA/trainB/testA/testB")
    parser.add_argument("--genotypes", metavar="FILE|cyclegan", help="genotypes.json of a search, or 'cyclegan'")
    parser.add_argument("--hidden-dim", type=int, help="H of G_A (and of G_B unless --hidden-dim-b)")
    parser.add_argument("--hidden-dim-b", type=int, help="H of G_B, when it differs (C'-models)")
    parser.add_argument("--epochs", type=int, help="epochs at constant lr (n_epochs); decay epochs via --decay-epochs")
    parser.add_argument("--decay-epochs", type=int, help="epochs of linear decay to 0 (n_epochs_decay)")
    parser.add_argument("--image-size", type=int, help="crop size; load size follows CycleGAN's 286/256 ratio")
    parser.add_argument("--discriminator", choices=["patchgan", "searched"], help="baseline PatchGAN or searched D")
    parser.add_argument("--out", help="run directory to create")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its last checkpoint")
    add_config_flags(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    progress = not args.no_progress
    if args.resume:
        result = resume_retrain(args.resume, progress=progress)
    else:
        if not args.out or not (args.data or args.config):
            raise CliError("--out and --data (or --config) are required unless --resume is given")
        flags = {"data.root": args.data, "genotypes": args.genotypes, "hidden_dim": args.hidden_dim,
                 "hidden_dim_b": args.hidden_dim_b, "n_epochs": args.epochs, "n_epochs_decay": args.decay_epochs,
                 "discriminator": args.discriminator, "data.crop_size": args.image_size,
                 "data.load_size": load_size_for(args.image_size) if args.image_size else None}
        result = run_retrain(build_config(RetrainConfig, args, flags), args.out, progress=progress)
    outcome = result.outcome
    print(f"retrain {outcome.status}: {outcome.epochs_done} epochs in {result.run_dir}")
    print(f"generators: {result.run_dir / 'final'}")
    return 0 if outcome.status == "ok" else 3
