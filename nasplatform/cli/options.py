"""Turning command-line flags into typed run configs: flags become dotted overrides on top of --config."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable
from pathlib import Path

from nasplatform.cli import CliError
from nasplatform.data.dataset import DataError
from nasplatform.engine.config import ConfigError, apply_overrides, from_dict, load_size_for, load_yaml, save_yaml


class DeprecatedAlias(argparse.Action):
    """An old flag name kept for existing scripts: it sets the new flag's value and says on stderr to use the new
    name (one meaning per flag name: `--image-size` is the training crop of search and retrain only)."""

    def __init__(self, option_strings, dest, new_flag: str, **kwargs):
        super().__init__(option_strings, dest, help=argparse.SUPPRESS, **kwargs)
        self.new_flag = new_flag

    def __call__(self, parser, namespace, values, option_string=None):
        print(
            f"{parser.prog}: warning: {option_string} is deprecated here, use {self.new_flag} (--image-size is "
            "the training crop size of search and retrain)",
            file=sys.stderr,
        )
        setattr(namespace, self.dest, values)


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="YAML", help="start from this config file instead of the defaults")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any config key, e.g. --set optim.lr=1e-4 (repeatable)",
    )
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
    parser.add_argument(
        "--threads",
        type=_threads,
        metavar="N",
        help="torch threads (default: one per CPU this process may use that is idle now; "
        "PERFORMANCE.md, 'threads', says why)",
    )


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


def add_run_parser(
    sub: argparse._SubParsersAction, name: str, help: str, add_own_flags: Callable[[argparse.ArgumentParser], None]
) -> argparse.ArgumentParser:
    """The parser of a training command (search, retrain): data and image size, its own flags, then where to run."""
    parser = sub.add_parser(name, help=help)
    parser.add_argument("--data", help="dataset folder with trainA/trainB/testA/testB")
    parser.add_argument("--image-size", type=int, help="crop size; load size follows CycleGAN's 286/256 ratio")
    add_own_flags(parser)
    add_threads_flag(parser)
    parser.add_argument("--out", help="run directory to create")
    parser.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue the run in RUN_DIR from its last checkpoint with "
        "the config saved there (with --data DIR: the dataset moved to DIR)",
    )
    add_config_flags(parser)
    parser.set_defaults(
        run_flags=[(a.dest, max(a.option_strings, key=len), a.default) for a in parser._actions if a.option_strings]
    )
    return parser


def check_output_folder(path: str, flag: str) -> None:
    """Refuse an output folder that is a file, or lies under one, naming the flag (before anything is written)."""
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise CliError(f"{flag} {path}: is a file, not a folder; give a folder path")
    for parent in target.parents:
        if parent.exists():
            if not parent.is_dir():
                raise CliError(f"{flag} {path}: {parent} is a file, so no folder can be made under it")
            break


#: Flags that go with --resume: the others would change the saved config and are refused.
RESUME_FLAGS = ("resume", "data", "no_progress", "help", "threads")


def refuse_with_resume(args: argparse.Namespace) -> None:
    """--resume continues with the saved config: flags that would change it are refused, not silently ignored."""
    ignored = [
        flag
        for dest, flag, default in args.run_flags
        if dest not in RESUME_FLAGS and getattr(args, dest) not in (default, None, [])
    ]
    if ignored:
        raise CliError(
            f"--resume continues {args.resume} with the config saved in it; {', '.join(ignored)} would "
            f"change it and cannot be used with --resume (only --data DIR, to point at a moved dataset). "
            "To train with other settings, start a new run with --out NEW_DIR"
        )


def relocate_data(run_dir: str, cls, data: str) -> None:
    """Point the saved config of the run in `run_dir` at the dataset folder `data` (it moved); says so."""
    from nasplatform.engine.rundir import RunDirectory

    run = RunDirectory(run_dir)
    kind = "search" if cls.__name__.startswith("Search") else "retrain"
    cfg = run.saved_config(cls, kind)
    root = str(Path(data).expanduser().resolve())
    if not Path(root).is_dir():
        raise CliError(f"--data {data}: not a folder")
    if root != cfg.data.root:
        save_yaml(dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, root=root)), run.config)
        print(f"--data: {run.config} now reads the dataset from {root} (was {cfg.data.root})")


def run_or_resume(args: argparse.Namespace, cls, flags: dict, run: Callable, resume: Callable):
    """`resume(RUN_DIR)` under --resume; else `run(config, --out)`, the config from --data, --image-size, `flags`."""
    progress = not args.no_progress
    apply_threads(args)  # the default for this machine now; a `threads` config key still wins in the engine
    if args.resume:
        refuse_with_resume(args)
        args.resume_hint = f"nasplatform {args.command} --resume {args.resume}"
        if args.data:
            relocate_data(args.resume, cls, args.data)
        try:
            return resume(args.resume, progress=progress, threads=args.threads)
        except DataError as exc:
            raise CliError(
                f"{exc}\nif the dataset moved, continue with --resume {args.resume} --data NEW_DIR"
            ) from None
    if not args.out or not (args.data or args.config):
        raise CliError("--out and --data (or --config) are required unless --resume is given")
    check_output_folder(args.out, "--out")
    image = {
        "data.crop_size": args.image_size,
        "data.load_size": load_size_for(args.image_size) if args.image_size else None,
    }
    cfg = build_config(cls, args, {"data.root": args.data, "threads": args.threads, **flags, **image})
    args.resume_hint = f"nasplatform {args.command} --resume {args.out}"
    return run(cfg, args.out, progress=progress)
