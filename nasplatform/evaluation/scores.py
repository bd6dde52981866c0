"""FID and KID of a folder of generated images against a folder of real (reference) images."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from cleanfid.fid import kernel_distance

from nasplatform.evaluation.features import DEFAULT_BATCH_SIZE, files_features, image_files
from nasplatform.evaluation.frechet import frechet_distance_to_features, gaussian_stats
from nasplatform.evaluation.inception import InceptionExtractor
from nasplatform.evaluation.reference_cache import ReferenceCache, ReferenceKey

#: KID subsets are drawn with this seed so the same images always give the same KID.
KID_SEED = 0


@dataclass(frozen=True)
class Scores:
    """FID and KID (clean-fid "clean" mode) of generated vs reference images, and what produced them.

    reference_cache_hit: True/False when a ReferenceCache was used, None without one.
    """

    fid: float
    kid: float
    n_generated: int
    n_reference: int
    extractor_source: str
    extractor_id: str
    reference_cache_hit: bool | None = None
    kid_std: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@contextlib.contextmanager
def _numpy_seed(seed: int) -> Iterator[None]:
    # clean-fid's kernel_distance draws subsets from numpy's global RNG; seed it and put it back.
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def kid_from_features(generated: np.ndarray, reference: np.ndarray, *, seed: int = KID_SEED) -> float:
    """KID by clean-fid's `kernel_distance` (100 subsets of up to 1000), with seeded subset draws."""
    if min(len(generated), len(reference)) < 2:
        raise ValueError(f"KID needs at least 2 feature rows per side, got {len(generated)} and {len(reference)}")
    with _numpy_seed(seed):
        return float(kernel_distance(generated, reference))


def _subset_mmd(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with the cubic polynomial kernel k(a, b) = (a.b / d + 1)^3: one subset of clean-fid's KID."""
    d, m = x.shape[1], x.shape[0]
    kxx, kyy, kxy = ((u @ v.T / d + 1) ** 3 for u, v in ((x, x), (y, y), (x, y)))
    same = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return float(same - 2.0 * kxy.sum() / (m * m))


def kid_std_from_features(
    generated: np.ndarray, reference: np.ndarray, *, seed: int = KID_SEED, num_subsets: int = 100
) -> float:
    """Spread of KID: the std of its unbiased estimate over `num_subsets` seeded random half-size subsets.

    clean-fid's KID uses subsets of min(N_gen, N_ref, 1000) images; on test sets of a few hundred images or
    fewer every such subset holds (nearly) all images, so the spread of those subsets says nothing. Subsets
    of half the images do vary; their std over-estimates the sampling noise of the full-set KID by about
    sqrt(2), a conservative error bar for comparing models on the same test set.
    """
    generated, reference = (np.asarray(f, dtype=np.float64) for f in (generated, reference))
    m = max(2, min(len(generated), len(reference), 1000) // 2)
    rng = np.random.default_rng(seed)
    values = [
        _subset_mmd(
            generated[rng.choice(len(generated), m, replace=False)],
            reference[rng.choice(len(reference), m, replace=False)],
        )
        for _ in range(num_subsets)
    ]
    return float(np.std(values, ddof=1))


def _enough_images(folder: Path) -> list[Path]:
    files = image_files(folder)
    if len(files) < 2:
        raise ValueError(f"{folder}: FID and KID need at least 2 images, found {len(files)}")
    return files


def compute_scores(
    generated_dir: str | Path,
    reference_dir: str | Path,
    *,
    extractor: InceptionExtractor,
    cache: ReferenceCache | None = None,
    reference_key: ReferenceKey | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: bool = True,
) -> Scores:
    """FID and KID of the images in `generated_dir` against those in `reference_dir`.

    With a `cache`, the reference statistics are read from it or computed once and stored under
    `reference_key` (default: a key derived from the folder's path).
    """
    if reference_key is not None and cache is None:
        raise ValueError("reference_key names a cache entry: pass a ReferenceCache too")
    generated_dir, reference_dir = Path(generated_dir), Path(reference_dir)
    generated_files = _enough_images(generated_dir)
    hit = None
    if cache is not None:
        reference = cache.get(reference_dir, extractor, reference_key)
        ref_mu, ref_sigma, ref_features, hit = reference.mu, reference.sigma, reference.features, reference.hit
    else:
        ref_features = files_features(
            _enough_images(reference_dir),
            extractor,
            batch_size=batch_size,
            progress=progress,
            description=f"reference {reference_dir.name}",
        )
        ref_mu, ref_sigma = gaussian_stats(ref_features)
    generated = files_features(
        generated_files,
        extractor,
        batch_size=batch_size,
        progress=progress,
        description=f"generated {generated_dir.name}",
    )
    return Scores(
        fid=frechet_distance_to_features(generated, ref_mu, ref_sigma),
        kid=kid_from_features(generated, ref_features),
        kid_std=kid_std_from_features(generated, ref_features),
        n_generated=len(generated),
        n_reference=len(ref_features),
        extractor_source=extractor.source,
        extractor_id=extractor.id,
        reference_cache_hit=hit,
    )
