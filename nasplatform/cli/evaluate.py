"""`nasplatform evaluate`: FID/KID both directions, paired error, size, MACs and speed of a retrained run."""

from __future__ import annotations

import argparse
import json

from nasplatform.cli.options import add_threads_flag, apply_threads
from nasplatform.engine.evaluate import evaluate_run


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("evaluate", help="score a retrained run on its test split; writes evaluation.json")
    parser.add_argument("run_dir", metavar="RUN_DIR")
    parser.add_argument("--data-root", help="dataset folder (default: the one in the run's config)")
    parser.add_argument("--cache-dir", help="reference-statistics cache (default ~/.cache/nasplatform)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    add_threads_flag(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    apply_threads(args)
    report = evaluate_run(
        args.run_dir, data_root=args.data_root, cache_dir=args.cache_dir, device=args.device, progress=not args.json
    )
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"Inception weights: {report['extractor']['source']} ({report['extractor']['id']})")
    for section in ("final", "best_val"):
        scores = report[section]
        if scores is None:
            continue
        line = (
            f"{section:<9} FID A->B {scores['fid_a2b']:8.2f}  B->A {scores['fid_b2a']:8.2f}   "
            f"KID A->B {scores['kid_a2b']:.4f}  B->A {scores['kid_b2a']:.4f}"
        )
        if "l1_a2b" in scores:
            line += f"   paired L1 {scores['l1_a2b']:.4f}  PSNR {scores['psnr_a2b']:.2f} dB"
        print(line)
    print_baselines(report.get("baselines") or {})
    for name in ("g_a", "g_b"):
        g = report[name]
        print(
            f"{name}: {g['params']:,} params  {g['mb']:.3f} MB  {g['macs'] / 1e9:.3f} GMACs @ {g['image_size']}px  "
            f"{g['inference_ms']:.1f} ms/image"
        )
    print(f"written: {args.run_dir}/evaluation.json")
    return 0


def print_baselines(baselines: dict) -> None:
    """The reference points under the model's scores: where "learned nothing" and "perfect" sit."""
    labels = {
        "identity": "identity G(x)=x",
        "mean_colour": "mean colour",
        "true": "ground truth",
        "floor": "noise floor",
    }
    for name, label in labels.items():
        scores = baselines.get(name) or {}
        parts = [
            f"{key.upper().replace('_A2B', ' A->B').replace('_B2A', ' B->A')} {scores[key]:.4g}"
            for key in ("fid_a2b", "fid_b2a", "kid_a2b", "kid_b2a", "psnr_a2b")
            if key in scores
        ]
        if parts:
            print(f"  {label:<16} " + "  ".join(parts).replace("PSNR A->B", "PSNR").replace(" dB", ""))
