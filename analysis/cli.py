"""Command-line pieces shared by `python -m analysis` and `nasplatform report`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from analysis.load import AnalysisInputError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m analysis", description="Figures and reports from result Parquet files."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    report = sub.add_parser("report", help="paper figures, architecture plots, samples and tables as index.html")
    add_report_arguments(report)
    return parser


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    """Shared with `nasplatform report`, so both spell the options the same."""
    parser.add_argument(
        "results",
        nargs="+",
        help="one or more results.parquet written by `nasplatform collect`; a trial in several "
        "tables (same trial_key, else experiment + trial_id) is drawn once, with a warning",
    )
    parser.add_argument("--out", required=True, help="report folder (created; index.html goes there)")
    parser.add_argument(
        "--runs-root",
        default=None,
        help="folder the tables' run_dir paths are relative to (default: the folder of each table)",
    )


def run_report(results: str | list[str], out: str, runs_root: str | None) -> int:
    from analysis.report import build_report  # matplotlib is only imported when a report is built

    report = build_report([results] if isinstance(results, str) else results, out, runs_root)
    lacking = sum(f.n_missing for f in report.figures)
    print(
        f"wrote {report.index} ({len(report.figures)} figure(s), {len(report.runs)} search run(s), "
        f"{len(report.samples)} sample grid(s); {len(report.skipped)} skipped note(s); "
        f"{lacking} missing trial result(s) marked)"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run_report(args.results, args.out, args.runs_root)
    except AnalysisInputError as exc:
        print(f"python -m analysis {args.command}: error: {exc}", file=sys.stderr)
        return 2
