"""`nasplatform collect`: the results table of one or several experiment folders, rebuilt without Ray."""

from __future__ import annotations

import argparse
import posixpath
import sys
from pathlib import Path

from nasplatform.cli import CliError


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("collect", help="rebuild results.parquet from experiment folders (no Ray needed)")
    parser.add_argument(
        "experiments",
        nargs="+",
        metavar="EXP_DIR",
        help="experiment folder(s), local, s3://... or gs://... (mixed); several make one table, "
        "rows identified by trial_key, a trial found twice kept once (with a warning)",
    )
    parser.add_argument(
        "-o",
        "--out",
        metavar="FILE",
        help="Parquet file to write, or a folder to write "
        "results.parquet into (default, for one EXP_DIR: EXP_DIR/results.parquet; required for several)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from nasplatform.tune.collect import collect_tables, table_bytes
    from nasplatform.tune.experiment import RESULTS_FILE
    from nasplatform.tune.storage import StorageError, open_storage

    if len(args.experiments) > 1 and not args.out:
        raise CliError("several experiment folders make one table: say where it goes with -o FILE")
    try:
        exps = [open_storage(uri) for uri in args.experiments]
        frame = collect_tables(exps, warn=lambda line: print(line, file=sys.stderr))
        if args.out:
            target = args.out
            if "://" not in target and Path(target).is_dir():  # -o DIR: the table goes in as DIR/results.parquet
                target = posixpath.join(target, RESULTS_FILE)
            out = open_storage(posixpath.dirname(target) or ".")
            out.write_bytes(table_bytes(frame), posixpath.basename(target))
            where = out.child(posixpath.basename(target)).uri
        else:
            exps[0].write_bytes(table_bytes(frame), RESULTS_FILE)
            where = exps[0].child(RESULTS_FILE).uri
    except StorageError as exc:
        raise CliError(str(exc)) from None
    for _, row in frame[frame["error"].fillna("").str.startswith("trial folder ")].iterrows():
        print(f"nasplatform collect: warning: {row['stage']} trial {row['trial_id']}: {row['error']}", file=sys.stderr)
    counts = frame["status"].value_counts().to_dict()
    print(f"wrote {where}: {len(frame)} trial row(s) ({', '.join(f'{n} {s}' for s, n in sorted(counts.items()))})")
    for uri, rows in frame.groupby("experiment_uri", sort=False):
        print(f"  {len(rows)} from {rows['experiment'].iloc[0]} ({uri}); its run_dir paths are relative to it")
    return 0
