"""`nasplatform status`: trials per stage and status of an experiment folder, and each failure with its error."""

from __future__ import annotations

import argparse

from nasplatform.cli import CliError


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("status", help="trials per stage and status, and every failure with its error")
    parser.add_argument("experiment", metavar="EXP_DIR", help="experiment folder (local, s3://... or gs://...)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from nasplatform.tune.status import status_lines
    from nasplatform.tune.storage import StorageError, open_storage

    try:
        print("\n".join(status_lines(open_storage(args.experiment))))
    except StorageError as exc:
        raise CliError(str(exc)) from None
    return 0
