"""`nasplatform translate`: apply a trained generator to a folder of images of any size."""

from __future__ import annotations

import argparse

from nasplatform.cli.options import add_threads_flag, apply_threads
from nasplatform.engine.deploy import DIRECTIONS, translate_folder


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("translate", help="translate a folder of images (output keeps each input's size)")
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a retrain run directory (uses final/)")
    parser.add_argument("--direction", choices=sorted(DIRECTIONS), required=True, help="AtoB uses G_A, BtoA G_B")
    parser.add_argument("input_dir", metavar="INPUT_DIR")
    parser.add_argument("output_dir", metavar="OUTPUT_DIR")
    parser.add_argument("--device", default="cpu")
    add_threads_flag(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    apply_threads(args)
    written = translate_folder(args.run_dir, args.direction, args.input_dir, args.output_dir, device=args.device)
    print(f"{len(written)} images written to {args.output_dir}")
    return 0
