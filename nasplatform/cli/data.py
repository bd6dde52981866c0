"""`nasplatform data`: fetch the paper's datasets, check them, or build the offline demo dataset photo2winter."""

from __future__ import annotations

import argparse

from nasplatform.cli import CliError
from nasplatform.cli.options import DeprecatedAlias
from nasplatform.data import (
    PAPER_DATASETS,
    DownloadError,
    build_demo,
    download_dataset,
    verify_dataset,
)
from nasplatform.data.download import OFFICIAL_BASE_URL, paper_dataset


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("data", help="download the paper's datasets or build the demo dataset")
    actions = parser.add_subparsers(dest="data_command", metavar="ACTION")
    actions.required = True
    names = ", ".join(PAPER_DATASETS)

    download = actions.add_parser("download", help=f"fetch one of the paper's datasets ({names})")
    download.add_argument("name", help=f"dataset name: {names}")
    download.add_argument("--root", required=True, help="folder that receives ROOT/NAME/{trainA,trainB,testA,testB}")
    download.add_argument(
        "--base-url", default=OFFICIAL_BASE_URL, help="server holding NAME.zip (default: the CycleGAN authors')"
    )
    download.add_argument("--no-progress", action="store_true", help="no progress bar")
    download.set_defaults(action=run_download)

    verify = actions.add_parser("verify", help="check the layout and image counts of a paper dataset")
    verify.add_argument("name", help=f"dataset name: {names}")
    verify.add_argument("--root", required=True, help="folder holding ROOT/NAME")
    verify.set_defaults(action=run_verify)

    demo = actions.add_parser("demo", help="build the offline demo dataset photo2winter")
    demo.add_argument("--root", required=True, help="folder that receives ROOT/photo2winter")
    demo.add_argument(
        "--stored-size",
        type=int,
        default=64,
        metavar="PX",
        help="side of the square images written (default 64); training resizes them",
    )
    demo.add_argument("--image-size", dest="stored_size", type=int, action=DeprecatedAlias, new_flag="--stored-size")
    demo.add_argument("--n-train", type=int, default=200, help="training images per domain (default 200)")
    demo.add_argument("--n-test", type=int, default=50, help="test images per domain (default 50)")
    demo.add_argument("--seed", type=int, default=0, help="seed of the crops (default 0)")
    demo.add_argument("--no-progress", action="store_true", help="no progress bar")
    demo.set_defaults(action=run_demo)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return args.action(args)


def run_download(args: argparse.Namespace) -> int:
    try:
        folder = download_dataset(args.name, args.root, base_url=args.base_url, progress=not args.no_progress)
        counts = verify_dataset(paper_dataset(args.name), args.root)
    except DownloadError as exc:
        raise CliError(str(exc)) from None
    print(f"{args.name} is in {folder} ({_counts(counts)}); use --set data.root={folder}")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    try:
        counts = verify_dataset(paper_dataset(args.name), args.root)
    except DownloadError as exc:
        raise CliError(str(exc)) from None
    print(f"{args.name} in {args.root} is complete ({_counts(counts)})")
    return 0


def run_demo(args: argparse.Namespace) -> int:
    try:
        folder = build_demo(
            args.root,
            image_size=args.stored_size,
            n_train=args.n_train,
            n_test=args.n_test,
            seed=args.seed,
            progress=not args.no_progress,
        )
    except (ValueError, FileExistsError, RuntimeError) as exc:
        raise CliError(str(exc)) from None
    print(
        f"photo2winter is in {folder} ({args.n_train} train / {args.n_test} test images per domain, "
        f"{args.stored_size}x{args.stored_size}; true B of testA in {folder / 'testA_true_B'}); "
        f"use --set data.root={folder}"
    )
    return 0


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{split} {n}" for split, n in counts.items())
