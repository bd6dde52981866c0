"""`nasplatform fid DIR_A DIR_B`: FID and KID of any two image folders, DIR_B being the cached reference."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from nasplatform.cli import CliError
from nasplatform.cli.options import add_threads_flag, apply_threads


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "nasplatform" / "fid-reference"


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("fid", help="FID and KID (clean-fid, clean mode) of two image folders")
    parser.add_argument("dir_a", metavar="DIR_A", help="generated (or any) images")
    parser.add_argument("dir_b", metavar="DIR_B", help="reference images; their statistics are cached")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--cache-dir", type=Path, default=None, help=f"reference statistics cache (default {default_cache_dir()})"
    )
    parser.add_argument("--batch-size", type=int, default=None, help="images per Inception batch")
    parser.add_argument("--device", default="cpu", help="torch device for Inception (default cpu)")
    add_threads_flag(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # Imported here so that other sub-commands do not pay for loading clean-fid and torch.
    from nasplatform import evaluation

    for folder in (args.dir_a, args.dir_b):
        if not Path(folder).is_dir():
            raise CliError(f"not a folder: {folder}")
    if args.batch_size is not None and args.batch_size < 1:
        raise CliError(f"--batch-size must be a positive number of images, got {args.batch_size}")
    apply_threads(args)
    batch_size = args.batch_size or evaluation.DEFAULT_BATCH_SIZE
    try:
        extractor = evaluation.load_inception(args.device)
        cache = evaluation.ReferenceCache(args.cache_dir or default_cache_dir(), batch_size=batch_size)
        scores = evaluation.compute_scores(
            args.dir_a, args.dir_b, extractor=extractor, cache=cache, batch_size=batch_size
        )
    except (evaluation.InceptionWeightsError, ValueError, OSError) as exc:
        raise CliError(str(exc)) from exc
    if args.json:
        print(json.dumps({"dir_a": str(args.dir_a), "dir_b": str(args.dir_b), **scores.to_dict()}))
        return 0
    print(f"FID {scores.fid:.4f}   KID {scores.kid:.6f}")
    print(
        f"{scores.n_generated} images in {args.dir_a}, {scores.n_reference} reference images in {args.dir_b}"
        f" ({'cached' if scores.reference_cache_hit else 'computed and cached'})"
    )
    print(f"Inception weights: {scores.extractor_id} from {scores.extractor_source}")
    return 0
