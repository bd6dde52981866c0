"""`nasplatform status`: trials per stage and status, every failure with its error; --watch refreshes a live view."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time

from nasplatform.cli import CliError

#: Clears a terminal and moves to its top-left corner (only written when stdout is a terminal).
CLEAR = "\x1b[2J\x1b[H"


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("status", help="trials per stage and status, and every failure with its error")
    parser.add_argument("experiment", metavar="EXP_DIR", help="experiment folder (local, s3://... or gs://...)")
    parser.add_argument(
        "--watch",
        action="store_true",
        help="refresh a live view: each trial's epoch, pace, ETA and last losses (Ctrl-C stops)",
    )
    parser.add_argument("--interval", type=float, default=10.0, metavar="S", help="seconds between refreshes (--watch)")
    parser.add_argument(
        "--count", type=int, metavar="N", help="stop after N refreshes (--watch; default: until Ctrl-C)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from nasplatform.tune.status import status_lines, watch_lines
    from nasplatform.tune.storage import StorageError, open_storage

    if args.interval < 0 or (args.count is not None and args.count < 1):
        raise CliError("--interval must be >= 0 and --count >= 1")
    try:
        exp = open_storage(args.experiment)
        if not args.watch:
            print("\n".join(status_lines(exp)))
            return 0
        frames = 0
        while True:
            now = dt.datetime.now(dt.timezone.utc).strftime("%H:%M:%S UTC")
            frame = "\n".join(watch_lines(exp, now))
            print((CLEAR if sys.stdout.isatty() else "") + frame, flush=True)
            frames += 1
            if args.count is not None and frames >= args.count:
                return 0
            time.sleep(args.interval)
    except StorageError as exc:
        raise CliError(str(exc)) from None
    except KeyboardInterrupt:
        return 0
