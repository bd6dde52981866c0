"""`nasplatform collect`: the results table of an experiment folder, rebuilt without Ray."""

from __future__ import annotations

import argparse
import posixpath
import sys
from pathlib import Path

from nasplatform.cli import CliError


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("collect", help="rebuild results.parquet from an experiment folder (no Ray needed)")
    parser.add_argument("experiment", metavar="EXP_DIR", help="experiment folder (local, s3://... or gs://...)")
    parser.add_argument("-o", "--out", metavar="FILE", help="Parquet file to write, or a folder to write results.parquet into (default: EXP_DIR/results.parquet)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from nasplatform.tune.collect import collect_table, table_bytes
    from nasplatform.tune.experiment import RESULTS_FILE
    from nasplatform.tune.storage import StorageError, open_storage

    try:
        exp = open_storage(args.experiment)
        frame = collect_table(exp)
        if args.out:
            target = args.out
            if "://" not in target and Path(target).is_dir():  # -o DIR: the table goes in as DIR/results.parquet
                target = posixpath.join(target, RESULTS_FILE)
            out = open_storage(posixpath.dirname(target) or ".")
            out.write_bytes(table_bytes(frame), posixpath.basename(target))
            where = out.child(posixpath.basename(target)).uri
        else:
            exp.write_bytes(table_bytes(frame), RESULTS_FILE)
            where = exp.child(RESULTS_FILE).uri
    except StorageError as exc:
        raise CliError(str(exc)) from None
    for _, row in frame[frame["error"].fillna("").str.startswith("trial folder ")].iterrows():
        print(f"nasplatform collect: warning: {row['stage']} trial {row['trial_id']}: {row['error']}", file=sys.stderr)
    counts = frame["status"].value_counts().to_dict()
    print(f"wrote {where}: {len(frame)} trial row(s) ({', '.join(f'{n} {s}' for s, n in sorted(counts.items()))}); "
          f"run_dir paths are relative to {exp.uri}")
    return 0
