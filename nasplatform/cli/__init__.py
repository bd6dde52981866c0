"""The `nasplatform` command line: one sub-command per module, dispatched through argparse."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Sequence

# Before any sub-command imports torch (libgomp reads it once, when it loads): idle OpenMP threads sleep instead
# of spinning, which keeps a run with 2 threads usable when another job takes a core (PERFORMANCE.md, "Threads").
# A value the user set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

#: Sub-command modules of this package; each defines `register(subparsers)` which adds its parser
#: and sets `func` (a callable taking the parsed namespace and returning an exit code).
COMMAND_MODULES: tuple[str, ...] = (
    "space",
    "arch",
    "data",
    "search",
    "retrain",
    "evaluate",
    "translate",
    "export",
    "report",
    "fid",
    "run",
    "resume",
    "collect",
    "status",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nasplatform",
        description="Differentiable architecture search of CycleGAN (CycleGANAS): search, retrain, evaluate, run grids.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(f"nasplatform.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except user_errors() as exc:
        print(f"nasplatform {args.command}: error: {exc}", file=sys.stderr)
        return 2


def user_errors() -> tuple[type[BaseException], ...]:
    """Errors caused by what the user gave (a file, a key, a value): one line, no traceback."""
    from nasplatform.engine.checkpoint import CheckpointError
    from nasplatform.engine.config import ConfigError
    from nasplatform.engine.data.dataset import DataError
    from nasplatform.engine.data.download import DownloadError
    from nasplatform.engine.data.images import BadImageError
    from nasplatform.space.genotype import GenotypeError

    return (CliError, ConfigError, GenotypeError, DataError, BadImageError, DownloadError, CheckpointError,
            FileNotFoundError)


class CliError(Exception):
    """A user error worth one clear line on stderr instead of a traceback."""


if __name__ == "__main__":
    sys.exit(main())
