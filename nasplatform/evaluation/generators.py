"""Scoring two generators (G_A, G_B) on a dataset's test split (docs/design.md §5): FID/KID both directions,
paired error, baselines, inference speed; the test images resized once and cached."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from nasplatform.data.images import list_images, load_rgb, resize_square, to_tensor, to_uint8
from nasplatform.evaluation.baselines import dataset_baselines
from nasplatform.evaluation.inception import InceptionExtractor, load_inception
from nasplatform.evaluation.paired import paired_error
from nasplatform.evaluation.reference_cache import ReferenceCache, ReferenceKey
from nasplatform.evaluation.scores import compute_scores

#: Where real-image statistics and resized reference images are kept between runs.
DEFAULT_CACHE = Path(os.environ.get("NASPLATFORM_CACHE", Path.home() / ".cache" / "nasplatform"))
TRUE_B = "testA_true_B"


#: Names the resize a resized copy was made with (bump when resize_square or the PNG writing changes).
RESIZE_METHOD = "resize_square:PIL-bicubic:png:v1"
SOURCE_FILE = ".source.json"


def resized_source_key(files: Sequence[Path], size: int, names: Sequence[str] | None = None) -> dict:
    """What a resized copy is made from: each source file's name, size and SHA-256, the output names, the resize."""
    import hashlib

    content = hashlib.sha256()
    for i, path in enumerate(files):
        path = Path(path)
        content.update(
            f"{path.resolve()}\0{names[i] if names is not None else path.stem}\0{path.stat().st_size}\0".encode()
        )
        content.update(hashlib.sha256(path.read_bytes()).digest())
    return {"sources_sha256": content.hexdigest(), "count": len(files), "size": size, "resize": RESIZE_METHOD}


def materialize_resized(files: Sequence[Path], out_dir: Path, size: int, names: Sequence[str] | None = None) -> Path:
    """Deterministically resized PNG copies (the test transform) in `out_dir`, rebuilt whenever the source
    files (names, sizes, contents) or the resize differ from what `out_dir/.source.json` records."""
    import fcntl

    key = resized_source_key(files, size, names)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(out_dir.parent / f".{out_dir.name}.lock", "a+b") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)  # two evaluations of one dataset build it once
        for orphan in out_dir.parent.glob(f".{out_dir.name}.*-*"):  # builds of a killed process (we hold the lock)
            shutil.rmtree(orphan, ignore_errors=True)
        if _source_key(out_dir) == key:
            return out_dir
        tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.build-"))
        try:
            for i, path in enumerate(files):
                name = names[i] if names is not None else Path(path).stem
                Image.fromarray(resize_square(load_rgb(path), size)).save(tmp / f"{name}.png")
            (tmp / SOURCE_FILE).write_text(json.dumps(key, indent=2, sort_keys=True) + "\n")
            if out_dir.exists():
                stale = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.stale-"))
                os.replace(out_dir, stale / "old")
                shutil.rmtree(stale, ignore_errors=True)
            os.replace(tmp, out_dir)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def _source_key(folder: Path) -> dict | None:
    try:
        return json.loads((folder / SOURCE_FILE).read_text())
    except (OSError, ValueError):
        return None  # missing (made by an older version, or never) or unreadable: rebuild


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


class GeneratorScorer:
    """Scores G_A(testA) against real testB and G_B(testB) against real testA, reference statistics cached."""

    def __init__(
        self,
        data_root: Path,
        size: int,
        *,
        extractor: InceptionExtractor | None = None,
        cache_dir: Path | None = None,
        device: str = "cpu",
        progress: bool = True,
    ):
        self.root, self.size, self.device, self.progress = Path(data_root), size, device, progress
        self.extractor = extractor or load_inception(device)
        self.cache_dir = Path(cache_dir) if cache_dir else DEFAULT_CACHE
        self.cache = ReferenceCache(self.cache_dir / "fid", progress=progress)
        self.files = {d: list_images(self.root / f"test{d}") for d in ("A", "B")}
        self.reference_keys: dict[str, dict | None] = {}
        for d, files in self.files.items():
            if len(files) < 2:
                raise FileNotFoundError(
                    f"{self.root / f'test{d}'}: FID needs at least 2 test images, found {len(files)}"
                )

    def reference(self, domain: str) -> tuple[Path, ReferenceKey]:
        folder = self.cache_dir / "real" / f"{self.root.name}-{_path_hash(self.root)}" / f"test{domain}_{self.size}"
        materialize_resized(self.files[domain], folder, self.size)
        # what evaluation.json records: the statistics cache checks its own fingerprint of these resized images
        self.reference_keys[f"test{domain}"] = _source_key(folder)
        return folder, ReferenceKey(self.root.name, f"test{domain}", self.size)

    def score(self, g_a: nn.Module, g_b: nn.Module, out_dir: Path) -> dict:
        scores = {}
        for direction, gen, src, dst in (("a2b", g_a, "A", "B"), ("b2a", g_b, "B", "A")):
            fakes = translate_files(gen, self.files[src], out_dir / f"fake_{dst}", self.size, self.device)
            ref_dir, key = self.reference(dst)
            s = compute_scores(
                fakes, ref_dir, extractor=self.extractor, cache=self.cache, reference_key=key, progress=self.progress
            )
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
        """Identity, mean-colour, ground-truth and noise-floor scores on this test set (evaluation/baselines.py)."""
        true_b = self.root / TRUE_B
        truth = (
            materialize_resized(list_images(true_b), out_dir / f"true_B_{self.size}", self.size)
            if true_b.is_dir()
            else None
        )
        return dataset_baselines(
            root=self.root,
            size=self.size,
            real_features={d: self.real_features(d) for d in ("A", "B")},
            resized_test=lambda d: self.reference(d)[0],
            extractor=self.extractor,
            work_dir=out_dir / "baselines",
            true_b_dir=truth,
        )


def _path_hash(path: Path) -> str:
    import hashlib

    return hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:8]
