"""Scoring a retrained run (DESIGN.md §5): FID/KID both directions, paired error, size, MACs and speed."""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
from PIL import Image
from torch import nn

from nasplatform.engine.baselines import dataset_baselines
from nasplatform.engine.checkpoint import load_checkpoint
from nasplatform.engine.config import RetrainConfig, load_yaml
from nasplatform.engine.data.demo import paired_error
from nasplatform.engine.data.images import list_images, load_rgb, resize_square, to_tensor
from nasplatform.engine.evaluation import InceptionExtractor, ReferenceCache, ReferenceKey, compute_scores, load_inception
from nasplatform.engine.rundir import RunDirectory
from nasplatform.engine.samples import to_uint8
from nasplatform.nets import Generator, model_cost
from nasplatform.space import genotype_from_dict

#: Where real-image statistics and resized reference images are kept between runs.
DEFAULT_CACHE = Path(os.environ.get("NASPLATFORM_CACHE", Path.home() / ".cache" / "nasplatform"))
TRUE_B = "testA_true_B"


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


def materialize_resized(files: Sequence[Path], out_dir: Path, size: int, names: Optional[Sequence[str]] = None) -> Path:
    """Deterministically resized PNG copies (the test transform), written once: a folder that exists is complete."""
    if out_dir.is_dir():
        return out_dir
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent if out_dir.parent.exists() else None, prefix=".resize-"))
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    for i, path in enumerate(files):
        name = names[i] if names is not None else Path(path).stem
        Image.fromarray(resize_square(load_rgb(path), size)).save(tmp / f"{name}.png")
    try:
        os.replace(tmp, out_dir)
    except OSError:  # another process published it first
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


@torch.inference_mode()
def translate_files(generator: nn.Module, files: Sequence[Path], out_dir: Path, size: int, device: str = "cpu") -> Path:
    """Generator outputs of the resized inputs, saved losslessly as PNG under the inputs' stems."""
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    for path in files:
        x = to_tensor(resize_square(load_rgb(path), size)).unsqueeze(0).to(device)
        Image.fromarray(to_uint8(generator(x))[0]).save(out_dir / f"{Path(path).stem}.png")
    return out_dir


@torch.inference_mode()
def inference_ms(generator: nn.Module, size: int, device: str = "cpu", repeats: int = 5) -> float:
    """Median milliseconds of one batch-1 forward pass, after one warm-up."""
    x = torch.zeros(1, 3, size, size, device=device)
    generator(x)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        generator(x)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


class RunEvaluator:
    """Scores G_A(testA) against real testB and G_B(testB) against real testA, reference statistics cached."""

    def __init__(self, data_root: Path, size: int, *, extractor: Optional[InceptionExtractor] = None,
                 cache_dir: Optional[Path] = None, device: str = "cpu", progress: bool = True):
        self.root, self.size, self.device, self.progress = Path(data_root), size, device, progress
        self.extractor = extractor or load_inception(device)
        self.cache_dir = Path(cache_dir) if cache_dir else DEFAULT_CACHE
        self.cache = ReferenceCache(self.cache_dir / "fid", progress=progress)
        self.files = {d: list_images(self.root / f"test{d}") for d in ("A", "B")}
        for d, files in self.files.items():
            if len(files) < 2:
                raise FileNotFoundError(f"{self.root / f'test{d}'}: FID needs at least 2 test images, found {len(files)}")

    def reference(self, domain: str) -> tuple[Path, ReferenceKey]:
        folder = self.cache_dir / "real" / f"{self.root.name}-{_path_hash(self.root)}" / f"test{domain}_{self.size}"
        materialize_resized(self.files[domain], folder, self.size)
        return folder, ReferenceKey(self.root.name, f"test{domain}", self.size)

    def score(self, g_a: nn.Module, g_b: nn.Module, out_dir: Path) -> dict:
        scores = {}
        for direction, gen, src, dst in (("a2b", g_a, "A", "B"), ("b2a", g_b, "B", "A")):
            fakes = translate_files(gen, self.files[src], out_dir / f"fake_{dst}", self.size, self.device)
            ref_dir, key = self.reference(dst)
            s = compute_scores(fakes, ref_dir, extractor=self.extractor, cache=self.cache, reference_key=key,
                               progress=self.progress)
            scores[f"fid_{direction}"], scores[f"kid_{direction}"] = s.fid, s.kid
            scores[f"kid_{direction}_std"] = s.kid_std
        true_b = self.root / TRUE_B
        if true_b.is_dir():
            truth = materialize_resized(list_images(true_b), out_dir / f"true_B_{self.size}", self.size)
            paired = paired_error(out_dir / "fake_B", truth)
            scores["l1_a2b"], scores["psnr_a2b"] = paired["l1"], paired["psnr"]
        return scores


    def real_features(self, domain: str) -> np.ndarray:
        """Inception features of the resized real test images of `domain` (from the reference cache)."""
        ref_dir, key = self.reference(domain)
        return self.cache.get(ref_dir, self.extractor, key).features

    def baselines(self, out_dir: Path) -> dict:
        """Identity, mean-colour, ground-truth and noise-floor scores on this test set (engine/baselines.py)."""
        true_b = self.root / TRUE_B
        truth = materialize_resized(list_images(true_b), out_dir / f"true_B_{self.size}", self.size) \
            if true_b.is_dir() else None
        return dataset_baselines(root=self.root, size=self.size,
                                 real_features={d: self.real_features(d) for d in ("A", "B")},
                                 resized_test=lambda d: self.reference(d)[0], extractor=self.extractor,
                                 work_dir=out_dir / "baselines", true_b_dir=truth)


def _path_hash(path: Path) -> str:
    import hashlib

    return hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:8]


def evaluate_run(run_dir: str | Path, *, data_root: Optional[str | Path] = None,
                 extractor: Optional[InceptionExtractor] = None, cache_dir: Optional[str | Path] = None,
                 device: str = "cpu", progress: bool = True) -> dict:
    """Score a retrain run's final generators (and its best_val ones if any); write evaluation.json."""
    run = RunDirectory(run_dir)
    if not (run.final / "meta.json").exists():
        raise FileNotFoundError(f"{run.final / 'meta.json'}: no final generators; has {run.root} finished retraining?")
    cfg = load_yaml(RetrainConfig, run.config)
    size = cfg.data.crop_size
    evaluator = RunEvaluator(Path(data_root or cfg.data.root), size, extractor=extractor,
                             cache_dir=cache_dir, device=device, progress=progress)
    g_a, g_b = load_generators(run, "final", device)
    report = {"image_size": size, "data_root": str(evaluator.root),
              "extractor": {"source": evaluator.extractor.source, "id": evaluator.extractor.id},
              "n_test_a": len(evaluator.files["A"]), "n_test_b": len(evaluator.files["B"]),
              "final": evaluator.score(g_a, g_b, run.root / "eval" / "final"), "best_val": None,
              "baselines": evaluator.baselines(run.root / "eval")}
    for name, gen in (("g_a", g_a), ("g_b", g_b)):
        report[name] = {**model_cost(gen, size).to_dict(), "inference_ms": inference_ms(gen, size, device)}
    if (run.checkpoints / "best_val.pt").exists():
        best = load_checkpoint(run.checkpoints / "best_val.pt")
        report["best_val"] = evaluator.score(*load_generators(run, "best_val", device), run.root / "eval" / "best_val")
        report["best_val"].update({f"epoch_{n}": int(best[f"epoch_{n}"]) for n in ("g_a", "g_b")})
    run.write_json(run.evaluation, report)
    return report
