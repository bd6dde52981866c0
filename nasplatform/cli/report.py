"""`nasplatform report`: the HTML report of a results table; a thin wrapper over `analysis`."""

from __future__ import annotations

import argparse

from nasplatform.cli import CliError


def register(sub: argparse._SubParsersAction) -> None:
    from analysis.cli import add_report_arguments

    parser = sub.add_parser("report", help="paper figures, architecture plots, samples and tables as index.html")
    add_report_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from analysis.cli import run_report
    from analysis.load import AnalysisInputError

    try:
        return run_report(args.results, args.out, args.runs_root)
    except AnalysisInputError as exc:
        raise CliError(str(exc)) from exc
