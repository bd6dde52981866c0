"""`nasplatform resume`: continue an experiment from its folder alone (errored and interrupted trials resume)."""

from __future__ import annotations

import argparse

from nasplatform.cli import CliError
from nasplatform.cli.run import add_cluster_flags, add_verbosity, print_outcome


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("resume", help="continue an experiment: finished trials are kept, others resume")
    parser.add_argument("experiment", metavar="EXP_DIR", help="experiment folder (local, s3://... or gs://...)")
    parser.add_argument("--address", metavar="ADDR", help="join a running Ray cluster; default: start a local Ray")
    add_cluster_flags(parser)
    parser.add_argument(
        "--trust-tune-state",
        action="store_true",
        help="accept the Tune state files (pickles) in EXP_DIR as they are, although this platform did "
        "not record writing them (your own experiment killed while Tune saved, or one from another "
        "machine or user that you trust): unpickling them runs any code they hold",
    )
    add_verbosity(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from nasplatform.tune.runner import ExperimentError, resume_experiment
    from nasplatform.tune.storage import StorageError

    args.resume_hint = f"nasplatform resume {args.experiment}"
    try:
        outcome = resume_experiment(
            args.experiment,
            address=args.address,
            verbose=args.verbose,
            storage_is_shared=args.storage_is_shared,
            autoscaling=args.autoscaling,
            trust_tune_state=args.trust_tune_state,
        )
    except (ExperimentError, StorageError) as exc:
        raise CliError(str(exc)) from None
    return print_outcome(outcome)
