"""The evaluate job (docs/design.md §5): score a retrain run folder's generators, write evaluation.json.

The scoring itself is nasplatform/evaluation/ (generators.py); this module reads the run folder and records.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from nasplatform.engine.checkpoint import load_checkpoint
from nasplatform.engine.config import RetrainConfig, load_yaml
from nasplatform.engine.rundir import RunDirectory
from nasplatform.engine.tensorboard import log_evaluation
from nasplatform.evaluation.generators import GeneratorScorer, inference_ms
from nasplatform.evaluation.inception import InceptionExtractor
from nasplatform.nets import Generator, model_cost
from nasplatform.space import genotype_from_dict


def load_generators(run: RunDirectory, which: str = "final", device: str = "cpu") -> tuple[nn.Module, nn.Module]:
    """G_A and G_B of a retrain run: `final` (last epoch) or `best_val` (chosen on the validation split)."""
    meta = run.read_json(run.final / "meta.json")
    dims = {"g_a": meta["hidden_dim_a"], "g_b": meta["hidden_dim_b"]}
    nets = {name: Generator(genotype_from_dict(meta["genotypes"][name]), dims[name]) for name in dims}
    if which == "final":
        states = {name: load_checkpoint(run.final / f"{name}.pt") for name in nets}
    else:
        best = load_checkpoint(run.checkpoints / "best_val.pt")
        states = {name: best[name] for name in nets}
    for name, net in nets.items():
        net.load_state_dict(states[name])
        net.to(device).eval()
    return nets["g_a"], nets["g_b"]


def evaluate_run(
    run_dir: str | Path,
    *,
    data_root: str | Path | None = None,
    extractor: InceptionExtractor | None = None,
    cache_dir: str | Path | None = None,
    device: str = "cpu",
    progress: bool = True,
) -> dict:
    """Score a retrain run's final generators (and its best_val ones if any); write evaluation.json."""
    run = RunDirectory(run_dir)
    if not (run.final / "meta.json").exists():
        raise FileNotFoundError(f"{run.final / 'meta.json'}: no final generators; has {run.root} finished retraining?")
    cfg = load_yaml(RetrainConfig, run.config)
    size = cfg.data.crop_size
    evaluator = GeneratorScorer(
        Path(data_root or cfg.data.root),
        size,
        extractor=extractor,
        cache_dir=cache_dir,
        device=device,
        progress=progress,
    )
    g_a, g_b = load_generators(run, "final", device)
    report = {
        "image_size": size,
        "data_root": str(evaluator.root),
        "extractor": {"source": evaluator.extractor.source, "id": evaluator.extractor.id},
        "n_test_a": len(evaluator.files["A"]),
        "n_test_b": len(evaluator.files["B"]),
        "final": evaluator.score(g_a, g_b, run.root / "eval" / "final"),
        "best_val": None,
        "baselines": evaluator.baselines(run.root / "eval"),
    }
    for name, gen in (("g_a", g_a), ("g_b", g_b)):
        report[name] = {**model_cost(gen, size).to_dict(), "inference_ms": inference_ms(gen, size, device)}
    if (run.checkpoints / "best_val.pt").exists():
        best = load_checkpoint(run.checkpoints / "best_val.pt")
        report["best_val"] = evaluator.score(*load_generators(run, "best_val", device), run.root / "eval" / "best_val")
        report["best_val"].update({f"epoch_{n}": int(best[f"epoch_{n}"]) for n in ("g_a", "g_b")})
    report["reference_keys"] = evaluator.reference_keys
    run.write_json(run.evaluation, report)
    log_evaluation(run, report)
    return report
