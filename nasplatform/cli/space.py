"""`nasplatform space`: the op sets and the search-space sizes."""

from __future__ import annotations

import argparse
import json

from nasplatform.space import OP_SETS, search_space_size


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("space", help="print the op sets and the search-space sizes")
    parser.add_argument("--n-cells", type=int, default=11, help="N, the number of generator cells (default 11)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    size = search_space_size(args.n_cells)
    data = {
        "n_cells": size.n_cells,
        "op_sets": {ct.value: list(ops) for ct, ops in OP_SETS.items()},
        "generator": size.generator,
        "discriminator": size.discriminator,
        "all_networks": size.all_networks,
    }
    if args.json:
        print(json.dumps(data))
        return 0
    names = {"e": "encoding S^e", "r": "residual S^r", "d": "decoding S^d"}
    for key, ops in data["op_sets"].items():
        print(f"{names[key]:<14} ({len(ops)}): {', '.join(ops)}")
    print(f"N = {size.n_cells} cells")
    print(f"one generator      {size.generator:.4g}")
    print(f"one discriminator  {size.discriminator}")
    print(f"all four networks  {size.all_networks:.4g}  (G_A, G_B, D_A, D_B searched separately)")
    return 0
