"""`nasplatform translate`: apply a trained generator to a folder of images of any size (1x1 up)."""

from __future__ import annotations

import argparse

from nasplatform.cli.options import add_threads_flag, apply_threads, check_output_folder
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
    check_output_folder(args.output_dir, "OUTPUT_DIR")
    written, replaced = translate_folder(
        args.run_dir, args.direction, args.input_dir, args.output_dir, device=args.device
    )
    print(
        f"{len(written)} PNG file(s) written to {args.output_dir}"
        + (
            f", {len(replaced)} of them replacing files that were there: "
            + ", ".join(str(p) for p in replaced[:10])
            + (" ..." if len(replaced) > 10 else "")
            if replaced
            else ""
        )
    )
    return 0
