"""Turning command-line flags into typed run configs: flags become dotted overrides on top of --config."""

from __future__ import annotations

import argparse

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
