"""Projected device-hours of each paper figure's grid (experiments/fig*.yaml) from measured iteration times.

Run: `python -m benchmarks.projection --from benchmarks/results/iteration_gpu.json --device cuda` (benchmarks/gpu.sh
does). Inputs: the search and discrete iteration times of `benchmarks.iteration` (same image size as the specs), the
datasets' image counts (docs/design.md §7) and the Inception images/s measured here on `--device`.

Cost model, per trial of a spec:
  search  = epochs * iterations_per_epoch * t_step(scheme); an epoch is one pass over the weight data, i.e.
            max(|trainA|, |trainB|) for OF and TF and half of that for TH and THS (they train w on the halves);
            TH and THS steps cost what a TF step costs (an alpha step, then a weight step).
  retrain = (n_epochs + n_epochs_decay) * max(|trainA|, |trainB|) * t_C(H), with t_C(H) the discrete C_H iteration
            interpolated log-log over the measured H; searched (N, C', searched@H) architectures are costed as C_H,
            their size being matched to it (docs/design.md §5.5).
  evaluate= (|testA| + |testB|) translated images through Inception at the measured rate, per retrain trial, plus
            the real images' statistics once per dataset.
Target (PERFORMANCE.md): one 400-epoch OF search on horse2zebra at <= 2 GPU-hours.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from benchmarks.harness import publish
from benchmarks.iteration import command_line
from nasplatform.data.download import PAPER_DATASETS
from nasplatform.engine.strategies import FULL, STRATEGIES, TwoStep
from nasplatform.tune.spec import ExperimentSpec, load_spec, retrain_config, search_config

EXPERIMENTS = Path(__file__).resolve().parent.parent / "experiments"
FIGURE_SPECS = ("fig3_schemes.yaml", "fig4_hidden_dims.yaml", "fig5_size_matched.yaml", "fig6_asymmetry.yaml")
TARGET_SEARCH_HOURS = 2.0


def inception_network(device: str) -> tuple[Callable[[torch.Tensor], torch.Tensor], str]:
    """clean-fid's Inception (the platform's extractor) or, where its weights or clean-fid are missing (the GPU
    machine has neither and cannot download), torchvision's Inception-v3 with random weights: the same network
    family at about the same cost, good for a throughput figure only."""
    try:
        from nasplatform.evaluation import InceptionWeightsError, load_inception

        try:
            return load_inception(device, download=False), "clean-fid Inception (platform extractor)"
        except InceptionWeightsError:
            pass
    except ImportError:
        pass
    from torchvision.models import inception_v3

    net = inception_v3(weights=None, aux_logits=False, init_weights=False).eval().to(device)
    net.fc = torch.nn.Identity()  # the 2048-d pool features, as the FID extractor returns

    def features(x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return net((x.to(device) - 128) / 128)

    return features, "torchvision inception_v3, random weights (stand-in: clean-fid weights not available here)"


def measure_inception(device: str, batch_size: int, batches: int) -> tuple[float, str]:
    """Images/s of the Inception feature network on 299x299 batches (decoding and resizing not included)."""
    extractor, which = inception_network(device)
    x = torch.rand(batch_size, 3, 299, 299, device=device) * 255
    extractor(x)  # warm-up: cuDNN / oneDNN choose their kernels
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(batches):
        extractor(x)
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()
    return batch_size * batches / (time.perf_counter() - start), which


def discrete_time(iterations: dict, precision: str, hidden_dim: int) -> float:
    """Seconds of one C_H iteration, piecewise linear on log-log axes over the measured H (end segments extended)."""
    measured = sorted(
        (int(k.split("/")[0][1:]), v["wall_s"])
        for k, v in iterations.items()
        if k.startswith("C") and k.endswith(f"/{precision}")
    )
    if not measured:
        raise ValueError(f"no discrete C_H iteration measured in {precision}")
    if len(measured) == 1:
        h, t = measured[0]
        return t * (hidden_dim / h) ** 2  # the convolutions' MACs grow with H^2
    hs, ts = np.log([m[0] for m in measured]), np.log([m[1] for m in measured])
    x = math.log(hidden_dim)
    i = int(min(max(np.searchsorted(hs, x) - 1, 0), len(hs) - 2))
    slope = (ts[i + 1] - ts[i]) / (hs[i + 1] - hs[i])
    return float(math.exp(ts[i] + slope * (x - hs[i])))


def search_time(iterations: dict, precision: str, scheme: str) -> float:
    """Seconds of one search step; two-step schemes (TwoStep) use the TF step, and OF's cost doubled when no
    two-step was measured."""
    step = iterations.get(f"{'TF' if issubclass(STRATEGIES[scheme], TwoStep) else scheme}/merged/{precision}")
    if step is not None:
        return step["wall_s"]
    return 2.0 * iterations[f"OF/merged/{precision}"]["wall_s"]  # an alpha step plus a weight step


def iterations_per_epoch(dataset: str, scheme: str = "OF") -> int:
    counts = PAPER_DATASETS[dataset].counts
    n = max(counts["trainA"], counts["trainB"])
    # a scheme whose declared splits are all halves (TH, THS) walks half the data per epoch
    halves = all(split.part != FULL for split in STRATEGIES[scheme].splits)
    return n // 2 if halves else n


def reused_searches(spec: ExperimentSpec, dataset: str) -> int:
    """Searched genotype sets a spec takes from elsewhere (retrain.genotypes_from) for one dataset: their retrains
    cost here, their searches were paid by the source (a selection left open counts as one search)."""
    source = spec.retrain.genotypes_from
    if source is None:
        return 0
    if source.files is not None:
        files = source.files.get(dataset, ())
        return 1 if isinstance(files, str) else len(files)
    return len(source.schemes or (None,)) * len(source.seeds or (None,))


def spec_hours(spec: ExperimentSpec, iterations: dict, precision: str, inception_rate: float) -> dict:
    """Device-hours of a spec's searches, retrains and evaluations, with the trial counts."""
    search = retrain = evaluate = 0.0
    n_search = n_retrain = 0
    search_epochs = search_config(spec, "", "OF", 0).epochs
    retrain_epochs = retrain_config(spec, "", 0, (1, 1)).epochs
    for dataset in spec.datasets:
        for scheme in spec.search.schemes:
            per_trial = (
                search_epochs * iterations_per_epoch(dataset, scheme) * search_time(iterations, precision, scheme)
            )
            search += per_trial * len(spec.search.seeds)
            n_search += len(spec.search.seeds)
        searches = len(spec.search.schemes) * len(spec.search.seeds) + reused_searches(spec, dataset)
        counts = PAPER_DATASETS[dataset].counts
        test_images = counts["testA"] + counts["testB"]
        evaluate += test_images / inception_rate  # real-image statistics, once per dataset
        for label in spec.retrain.labels:
            trials = spec.retrain.repeats * (searches if label.needs_search else 1)
            per_trial = (
                retrain_epochs * iterations_per_epoch(dataset) * discrete_time(iterations, precision, label.hidden_dim)
            )
            retrain += per_trial * trials
            evaluate += trials * test_images / inception_rate
            n_retrain += trials
    hours = lambda s: round(s / 3600, 2)  # noqa: E731
    return {
        "search_trials": n_search,
        "retrain_trials": n_retrain,
        "search_hours": hours(search),
        "retrain_hours": hours(retrain),
        "evaluate_hours": hours(evaluate),
        "total_hours": hours(search + retrain + evaluate),
    }


def load_iterations(path: Path) -> tuple[dict, dict]:
    """The `iterations` and `setting` of a benchmarks.iteration result file, with a clear error when unusable."""
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise SystemExit(f"{path}: cannot read an iteration result ({exc}); run benchmarks.iteration first") from None
    if "iterations" not in data or "setting" not in data:
        raise SystemExit(f"{path}: no 'iterations'/'setting' keys; is it a benchmarks.iteration result?")
    return data["iterations"], data["setting"]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="source", type=Path, required=True, help="a benchmarks.iteration result JSON")
    parser.add_argument("--device", default="cpu", help="device the Inception rate is measured on")
    parser.add_argument("--inception-batch", type=int, default=64)
    parser.add_argument("--inception-batches", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="one tiny Inception batch: a smoke run")
    parser.add_argument("--name", default=None, help="results/<name>.json (default projection[_quick])")
    args = parser.parse_args(argv)
    if args.quick:
        args.inception_batch, args.inception_batches = 2, 1
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    iterations, setting = load_iterations(args.source)
    rate, network = measure_inception(args.device, args.inception_batch, args.inception_batches)
    specs = {name: load_spec(EXPERIMENTS / name) for name in FIGURE_SPECS}
    precisions = sorted({k.rsplit("/", 1)[1] for k in iterations if k.startswith("OF/merged/")})
    projections = {
        p: {spec.figure: spec_hours(spec, iterations, p, rate) for spec in specs.values()} for p in precisions
    }
    headline = {
        p: round(400 * iterations_per_epoch("horse2zebra") * iterations[f"OF/merged/{p}"]["wall_s"] / 3600, 2)
        for p in precisions
    }
    sizes = {spec.image_size for spec in specs.values()}
    figures = {
        "command": command_line("projection", argv),
        "source": str(args.source),
        "measured_on": setting.get("device"),
        "image_size": setting.get("image_size"),
        "spec_image_sizes": sorted(sizes),
        "sizes_match": sizes == {setting.get("image_size")},
        "inception_images_per_s": round(rate, 1),
        "inception_device": args.device,
        "inception_network": network,
        "horse2zebra_of_search_400_epochs_hours": headline,
        "figures_hours": projections,
        "targets": {
            f"horse2zebra_of_search<={TARGET_SEARCH_HOURS}h/{p}": h <= TARGET_SEARCH_HOURS for p, h in headline.items()
        },
    }
    return publish(args.name or ("projection_quick" if args.quick else "projection"), figures)


if __name__ == "__main__":
    main()
