"""`nasplatform export`: a standalone generator file that loads without nasplatform installed."""

from __future__ import annotations

import argparse
from pathlib import Path

from nasplatform.cli.options import check_output_folder
from nasplatform.engine.deploy import DIRECTIONS, EXPORT_FORMATS, export_generator

LOADERS = {"pt2": "torch.export.load(PATH).module()", "torchscript": "torch.jit.load(PATH)"}


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("export", help="export G_A and/or G_B as standalone files")
    parser.add_argument("run_dir", metavar="RUN_DIR")
    parser.add_argument(
        "--format",
        choices=EXPORT_FORMATS,
        default="pt2",
        help="pt2 (torch.export, default) or torchscript (deprecated in torch 2.14, legacy)",
    )
    parser.add_argument(
        "--direction", choices=sorted(DIRECTIONS), action="append", help="AtoB and/or BtoA (default both)"
    )
    parser.add_argument("--out", help="output folder (default RUN_DIR/export)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out_dir = Path(args.out or Path(args.run_dir) / "export")
    check_output_folder(str(out_dir), "--out")
    suffix = ".pt2" if args.format == "pt2" else ".ts.pt"
    for direction in args.direction or sorted(DIRECTIONS):
        path = export_generator(args.run_dir, direction, args.format, out_dir / f"generator_{direction}{suffix}")
        print(
            f"{direction}: {path}  (load: {LOADERS[args.format].replace('PATH', repr(str(path)))};"
            " input (N,3,H,W) in [-1,1], H and W multiples of 4)"
        )
    return 0
