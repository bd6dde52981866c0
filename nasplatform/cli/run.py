"""`nasplatform run`: an experiment spec as Ray Tune grids (search -> size matching -> retrain+evaluate), resumable."""

from __future__ import annotations

import argparse
import dataclasses

from nasplatform.cli import CliError


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "run",
        help="run an experiment spec (YAML) on Ray Tune; running it again continues it, "
        "and a spec that only adds trials (datasets, seeds, architectures, repeats) runs just those",
    )
    parser.add_argument("spec", help="experiment spec, e.g. experiments/quickstart.yaml")
    parser.add_argument(
        "--data-root", metavar="DIR", help="folder holding the dataset folders (default: the spec's data_root)"
    )
    parser.add_argument(
        "--storage",
        default="runs",
        metavar="URI",
        help="where experiment folders go: a local folder, s3://... or gs://... (default: runs); "
        "on a cluster of several machines, a shared file system path or an s3/gs URI",
    )
    parser.add_argument(
        "--address",
        metavar="ADDR",
        help="join a running Ray cluster ('auto': the one on this machine); default: start a local Ray",
    )
    add_cluster_flags(parser)
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a spec key, e.g. --set search.settings.epochs=2 or --set retrain.settings.optim.lr=1e-4; "
        "applied after --smoke, so an explicit key wins over its value",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="dry-run: 1 epoch, 32 px, 1 repeat, <= 8 images per domain, "
        "small H; GPU requests are dropped if the cluster has none (and not --autoscaling)",
    )
    parser.add_argument("--name", help="experiment name (default: the spec's name, with -smoke under --smoke)")
    add_verbosity(parser)
    parser.set_defaults(func=run)


def add_cluster_flags(parser: argparse.ArgumentParser) -> None:
    """--storage-is-shared and --autoscaling, shared by `run` and `resume`."""
    parser.add_argument(
        "--storage-is-shared",
        action="store_true",
        help="the local storage folder is mounted at the same path on every node (NFS and the like): "
        "do not refuse it on a cluster of several machines",
    )
    parser.add_argument(
        "--autoscaling",
        action="store_true",
        help="the cluster's autoscaler adds the nodes the trials need: do not refuse GPUs or CPUs "
        "that no node up now has (trials wait for the new nodes)",
    )


def add_verbosity(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--verbose",
        type=int,
        choices=[0, 1, 2, 3],
        default=1,
        help="Tune's progress output: 0 silent, 1 status table (default), 2 and 3 more detail",
    )


def run(args: argparse.Namespace) -> int:
    from nasplatform.tune.runner import ExperimentError, RunOptions, run_experiment
    from nasplatform.tune.spec import load_spec
    from nasplatform.tune.storage import StorageError

    spec = load_spec(args.spec, args.overrides, smoke=args.smoke)
    if args.name:
        spec = dataclasses.replace(spec, name=args.name)
    args.resume_hint = f"nasplatform resume {args.storage.rstrip('/')}/{spec.name}"
    options = RunOptions(
        storage=args.storage,
        data_root=args.data_root,
        address=args.address,
        smoke=args.smoke,
        verbose=args.verbose,
        storage_is_shared=args.storage_is_shared,
        autoscaling=args.autoscaling,
    )
    try:
        outcome = run_experiment(spec, options)
    except (ExperimentError, StorageError) as exc:
        raise CliError(str(exc)) from None
    return print_outcome(outcome)


def print_outcome(outcome) -> int:
    """Where everything is, how the trials ended; exit code 0 when every trial finished."""
    from nasplatform.tune.status import status_lines

    print("\n".join(status_lines(outcome.exp)))
    if outcome.stopped:
        print(outcome.stopped)
    print(f"results: {outcome.results}")
    if outcome.report:
        print(f"report:  {outcome.report}")
    if not outcome.all_finished:
        print(
            f"not every trial finished: see `nasplatform status {outcome.exp.uri}`, "
            f"continue with `nasplatform resume {outcome.exp.uri}`"
        )
        return 1
    return 0
