"""`nasplatform arch`: parameters, MB and MACs of each network of a named or JSON genotype."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from nasplatform.cli import CliError
from nasplatform.cli.options import DeprecatedAlias
from nasplatform.nets import Discriminator, Generator, PatchGANDiscriminator, model_cost
from nasplatform.space import (
    NAMED_GENOTYPES,
    NETWORK_NAMES,
    RENAMED_GENOTYPES,
    DiscriminatorGenotype,
    GeneratorGenotype,
    GenotypeError,
    genotype_from_dict,
    named_genotype,
)


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "arch",
        help="size and cost of an architecture",
        description="NAME_OR_GENOTYPE_JSON: a named genotype (cyclegan, patchgan_point: the search-space point "
        "nearest the official PatchGAN, "
        "whose cost is shown beside it), a genotype JSON object, "
        "a genotypes.json mapping g_a/g_b/d_a/d_b to genotypes, or a path to such a file.",
    )
    parser.add_argument("genotype", metavar="NAME_OR_GENOTYPE_JSON")
    parser.add_argument("--hidden-dim", type=int, default=64, help="generator hidden dim H (default 64)")
    parser.add_argument("--ndf", type=int, default=64, help="discriminator base width (default 64)")
    parser.add_argument(
        "--macs-size",
        type=int,
        default=256,
        metavar="PX",
        help="side of the square input at which MACs are counted (default 256)",
    )
    parser.add_argument("--image-size", dest="macs_size", type=int, action=DeprecatedAlias, new_flag="--macs-size")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)


def parse_networks(text: str) -> dict:
    """Name, JSON or file -> {network name: genotype}."""
    if text in NAMED_GENOTYPES or text in RENAMED_GENOTYPES:
        return {RENAMED_GENOTYPES.get(text, text): named_genotype(text)}
    source = text
    path = Path(text)
    if not text.lstrip().startswith("{") and path.is_file():
        source = path.read_text()
    try:
        data = json.loads(source)
    except json.JSONDecodeError as exc:
        raise CliError(
            f"{text!r} is neither a named genotype {sorted(NAMED_GENOTYPES)}, a file, nor JSON ({exc})"
        ) from None
    try:
        if isinstance(data, dict) and data.keys() <= set(NETWORK_NAMES) and data:
            return {name: genotype_from_dict(g) for name, g in data.items()}
        return {"genotype": genotype_from_dict(data)}
    except GenotypeError as exc:
        raise CliError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    report = {}
    for name, genotype in parse_networks(args.genotype).items():
        if isinstance(genotype, GeneratorGenotype):
            net, width = Generator(genotype, args.hidden_dim), {"hidden_dim": args.hidden_dim}
        else:
            net, width = Discriminator(genotype, args.ndf), {"ndf": args.ndf}
        report[name] = {"genotype": genotype.to_dict(), **width, **model_cost(net, args.macs_size).to_dict()}
        if isinstance(genotype, DiscriminatorGenotype) and args.genotype in ("patchgan_point", "patchgan"):
            official = PatchGANDiscriminator(args.ndf)
            report["patchgan_official"] = {"ndf": args.ndf, **model_cost(official, args.macs_size).to_dict()}
    if args.json:
        print(json.dumps(report))
        return 0
    for name, info in report.items():
        print(
            f"{name:<18} params {info['params']:>12,}  {info['mb']:9.3f} MB  "
            f"{info['macs'] / 1e9:9.3f} GMACs @ {info['image_size']}px"
        )
    return 0
