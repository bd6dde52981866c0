"""Turning command-line flags into typed run configs: flags become dotted overrides on top of --config."""

from __future__ import annotations

import argparse
from typing import Callable

from nasplatform.cli import CliError
from nasplatform.engine.config import ConfigError, apply_overrides, from_dict, load_yaml
from nasplatform.engine.data.config import load_size_for


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="YAML", help="start from this config file instead of the defaults")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override any config key, e.g. --set optim.lr=1e-4 (repeatable)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def build_config(cls, args: argparse.Namespace, flags: dict):
    """Defaults (or --config), then the named flags that were given, then every --set."""
    overrides = [f"{key}={value}" for key, value in flags.items() if value is not None]
    try:
        cfg = load_yaml(cls, args.config) if args.config else from_dict(cls, {})
        return apply_overrides(cfg, overrides + list(args.overrides))
    except ConfigError as exc:
        raise CliError(str(exc)) from None


def add_threads_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=_threads, metavar="N",
                        help="torch threads (default: one per CPU this process may use that is idle now; "
                             "PERFORMANCE.md, 'threads', says why)")


def _threads(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def apply_threads(args: argparse.Namespace) -> int:
    """Set torch's threads from --threads, or the default for this machine now (commands without a run config)."""
    from nasplatform.engine.threads import use_threads

    return use_threads(args.threads)


def add_run_parser(sub: argparse._SubParsersAction, name: str, help: str,
                   add_own_flags: Callable[[argparse.ArgumentParser], None]) -> argparse.ArgumentParser:
    """The parser of a training command (search, retrain): data and image size, its own flags, then where to run."""
    parser = sub.add_parser(name, help=help)
    parser.add_argument("--data", help="dataset folder with trainA/trainB/testA/testB")
    parser.add_argument("--image-size", type=int, help="crop size; load size follows CycleGAN's 286/256 ratio")
    add_own_flags(parser)
    add_threads_flag(parser)
    parser.add_argument("--out", help="run directory to create")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its last checkpoint")
    add_config_flags(parser)
    return parser


def run_or_resume(args: argparse.Namespace, cls, flags: dict, run: Callable, resume: Callable):
    """`resume(RUN_DIR)` under --resume; else `run(config, --out)`, the config built from --data, --image-size and `flags`."""
    progress = not args.no_progress
    apply_threads(args)  # the default for this machine now; a `threads` config key still wins in the engine
    if args.resume:
        return resume(args.resume, progress=progress, threads=args.threads)
    if not args.out or not (args.data or args.config):
        raise CliError("--out and --data (or --config) are required unless --resume is given")
    image = {"data.crop_size": args.image_size, "data.load_size": load_size_for(args.image_size) if args.image_size else None}
    cfg = build_config(cls, args, {"data.root": args.data, "threads": args.threads, **flags, **image})
    return run(cfg, args.out, progress=progress)
