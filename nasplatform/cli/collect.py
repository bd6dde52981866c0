"""`nasplatform collect`: the results table of an experiment folder, rebuilt without Ray."""

from __future__ import annotations

import argparse
import posixpath

from nasplatform.cli import CliError


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("collect", help="rebuild results.parquet from an experiment folder (no Ray needed)")
    parser.add_argument("experiment", metavar="EXP_DIR", help="experiment folder (local, s3://... or gs://...)")
    parser.add_argument("-o", "--out", metavar="FILE", help="Parquet file to write (default: EXP_DIR/results.parquet)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from nasplatform.tune.collect import collect_table, table_bytes
    from nasplatform.tune.experiment import RESULTS_FILE
    from nasplatform.tune.storage import StorageError, open_storage

    try:
        exp = open_storage(args.experiment)
        frame = collect_table(exp)
        if args.out:
            out = open_storage(posixpath.dirname(args.out) or ".")
            out.write_bytes(table_bytes(frame), posixpath.basename(args.out))
            where = out.child(posixpath.basename(args.out)).uri
        else:
            exp.write_bytes(table_bytes(frame), RESULTS_FILE)
            where = exp.child(RESULTS_FILE).uri
    except StorageError as exc:
        raise CliError(str(exc)) from None
    counts = frame["status"].value_counts().to_dict()
    print(f"wrote {where}: {len(frame)} trial row(s) ({', '.join(f'{n} {s}' for s, n in sorted(counts.items()))}); "
          f"run_dir paths are relative to {exp.uri}")
    return 0
