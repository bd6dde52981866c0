"""The `nasplatform` command line: one sub-command per module, dispatched through argparse."""

from __future__ import annotations

import argparse
import errno
import faulthandler
import importlib
import io
import os
import signal
import sys
import threading
import warnings
from collections.abc import Sequence

from nasplatform import interrupt

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
        description="Differentiable architecture search of CycleGAN (CycleGANAS): search, retrain, evaluate, grids.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(f"nasplatform.cli.{name}").register(sub)
    return parser


#: Exit code of a run stopped by Ctrl-C (128 + SIGINT, as a shell reports it).
INTERRUPTED = 130


def main(argv: Sequence[str] | None = None) -> int:
    dump_stacks_on_sigusr1()
    parser = build_parser()
    args = parser.parse_args(argv)
    # a user reads warnings, not the source line that raised them (put back afterwards: tests call main() in-process)
    plain_format = warnings.formatwarning
    warnings.formatwarning = lambda message, category, *_, **__: f"nasplatform {args.command}: warning: {message}\n"
    try:
        with interrupt.remembered():
            return int(args.func(args) or 0)
    except user_errors() as exc:
        print(f"nasplatform {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # what was checkpointed is on disk (every writer is atomic); say how to go on instead of a traceback
        hint = getattr(args, "resume_hint", None)
        print(
            f"nasplatform {args.command}: interrupted" + (f"; continue with `{hint}`" if hint else ""), file=sys.stderr
        )
        return INTERRUPTED
    except OSError as exc:
        print(
            f"nasplatform {args.command}: error: {describe_os_error(exc, getattr(args, 'resume_hint', None))}",
            file=sys.stderr,
        )
        return 2
    finally:
        warnings.formatwarning = plain_format


def dump_stacks_on_sigusr1() -> None:
    """`kill -USR1 PID` prints where every thread of a run that seems stuck is, without stopping it."""
    if not hasattr(signal, "SIGUSR1") or threading.current_thread() is not threading.main_thread():
        return  # handlers are installed from the main thread only (tests may call main() from others)
    try:
        faulthandler.register(signal.SIGUSR1, all_threads=True)
    except (io.UnsupportedOperation, AttributeError, ValueError):
        pass  # stderr is not a file (captured in a test): there is nowhere to print stacks


def describe_os_error(exc: OSError, resume_hint: str | None = None) -> str:
    """One line naming the file and the system's reason; for a full disk, also what was kept and how to go on."""
    where = " -> ".join(str(f) for f in (exc.filename, exc.filename2) if f is not None)
    reason = exc.strerror or str(exc)
    line = f"{where}: {reason}" if where else reason
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        line += "; nothing already written was lost (files are replaced only once complete); free some space" + (
            f", then continue with `{resume_hint}`" if resume_hint else " and run the command again"
        )
    return line


def user_errors() -> tuple[type[BaseException], ...]:
    """Errors caused by what the user gave (a file, a key, a value): one line, no traceback."""
    from nasplatform.data.dataset import DataError
    from nasplatform.data.download import DownloadError
    from nasplatform.data.images import BadImageError
    from nasplatform.engine.checkpoint import CheckpointError
    from nasplatform.engine.config import ConfigError
    from nasplatform.engine.deploy import TranslateError
    from nasplatform.engine.lock import FolderBusy
    from nasplatform.engine.rundir import RunDirError, RunFileError
    from nasplatform.space.genotype import GenotypeError

    return (
        CliError,
        ConfigError,
        GenotypeError,
        DataError,
        BadImageError,
        DownloadError,
        CheckpointError,
        FileNotFoundError,
        FolderBusy,
        RunDirError,
        RunFileError,
        TranslateError,
    )


class CliError(Exception):
    """A user error worth one clear line on stderr instead of a traceback."""


if __name__ == "__main__":
    sys.exit(main())
