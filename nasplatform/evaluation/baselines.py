"""Reference points of an evaluation: what "learned nothing" and "perfect" score on the same test set.

A score means little alone: on photo2winter at 32 px a constant image already reaches 15.5 dB PSNR, and
with 50 test images two halves of the *real* test set are far from FID 0. So every evaluation also scores:

- identity (`identity_*`): the translation that returns its input, G(x) = x;
- mean colour (`mean_colour_*`): a constant image of the target domain's mean training colour;
- ground truth (`true_*`, A->B only, where the dataset has `testA_true_B`): the true translations;
- noise floor (`floor_*`): two disjoint halves of the real test images of the target domain against each
  other, the distance that sampling alone produces at half the test-set size.

Everything reuses the reference features of the real test images; only the true images (when present)
and one constant image per direction go through Inception again.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from nasplatform.data.images import list_images, load_rgb, resize_square
from nasplatform.evaluation import (
    InceptionExtractor,
    files_features,
    frechet_distance_to_features,
    gaussian_stats,
    kid_from_features,
    kid_std_from_features,
)

#: Seed of the random split of the real test images into two halves (noise floor).
FLOOR_SEED = 0
BASELINES = ("identity", "mean_colour", "true", "floor")


def distribution_scores(features: np.ndarray, reference: np.ndarray, suffix: str) -> dict[str, float]:
    """FID, KID and KID's spread of `features` against the real `reference` features, keyed `fid_<suffix>`..."""
    return {
        f"fid_{suffix}": frechet_distance_to_features(features, *gaussian_stats(reference)),
        f"kid_{suffix}": kid_from_features(features, reference),
        f"kid_{suffix}_std": kid_std_from_features(features, reference),
    }


def paired_scores(predictions: Sequence[np.ndarray], truths: Sequence[np.ndarray]) -> dict[str, float]:
    """Mean per-image L1 ([0, 1] scale) and PSNR (dB, exact match capped at 100) of HxWx3 uint8 pairs."""
    l1s, psnrs = [], []
    for pred, true in zip(predictions, truths, strict=True):
        diff = pred.astype(np.float64) / 255.0 - true.astype(np.float64) / 255.0
        mse = float(np.mean(diff**2))
        l1s.append(float(np.mean(np.abs(diff))))
        psnrs.append(100.0 if mse <= 1e-10 else -10.0 * math.log10(mse))
    return {"l1": float(np.mean(l1s)), "psnr": float(np.mean(psnrs))}


def mean_colour(folder: Path, size: int) -> np.ndarray:
    """The mean RGB colour (uint8) of the images under `folder`, each resized to size x size first."""
    files = list_images(folder)
    if not files:
        raise FileNotFoundError(f"{folder}: no images to take the mean colour from")
    total = np.zeros(3)
    for path in files:
        total += resize_square(load_rgb(path), size).reshape(-1, 3).mean(axis=0)
    return np.clip(np.rint(total / len(files)), 0, 255).astype(np.uint8)


def half_split(n: int, seed: int = FLOOR_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint index halves of range(n), seeded (the first gets the extra one when n is odd)."""
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[: (n + 1) // 2]), np.sort(order[(n + 1) // 2 :])


def constant_features(
    colour: np.ndarray, size: int, count: int, extractor: InceptionExtractor, work_dir: Path
) -> np.ndarray:
    """Features of `count` copies of a constant size x size image: one Inception pass, tiled."""
    work_dir.mkdir(parents=True, exist_ok=True)
    path = work_dir / f"constant_{'_'.join(str(int(c)) for c in colour)}_{size}.png"
    Image.fromarray(np.broadcast_to(colour, (size, size, 3)).copy()).save(path)
    feature = files_features([path], extractor, progress=False)
    return np.repeat(feature, count, axis=0)


def dataset_baselines(
    *,
    root: Path,
    size: int,
    real_features: dict[str, np.ndarray],
    resized_test: Callable[[str], Path],
    extractor: InceptionExtractor,
    work_dir: Path,
    true_b_dir: Path | None = None,
) -> dict[str, dict[str, float]]:
    """The four reference points for both directions, as {"identity": {...}, "mean_colour": ..., ...}.

    real_features: "A"/"B" -> features of the resized real test images (the FID references).
    resized_test: domain -> folder of the resized real test images (the identity map's outputs), named
    by file stem like the true-B folder, so the identity map's paired error can be read off them.
    true_b_dir: resized testA_true_B images, or None when the dataset has no ground truth.
    """
    directions = (("a2b", "A", "B"), ("b2a", "B", "A"))
    identity, constant, floor = {}, {}, {}
    for suffix, src, dst in directions:
        identity.update(distribution_scores(real_features[src], real_features[dst], suffix))
        colour = mean_colour(root / f"train{dst}", size)
        constant.update(
            distribution_scores(
                constant_features(colour, size, len(real_features[src]), extractor, work_dir),
                real_features[dst],
                suffix,
            )
        )
        constant[f"colour_{suffix}"] = [int(c) for c in colour]
        first, second = half_split(len(real_features[dst]))
        if min(len(first), len(second)) >= 2:
            floor.update(distribution_scores(real_features[dst][first], real_features[dst][second], suffix))
    result = {"identity": identity, "mean_colour": constant, "true": {}, "floor": floor}
    if true_b_dir is not None:
        truth_files = list_images(true_b_dir)
        truths = [np.asarray(load_rgb(p)) for p in truth_files]
        inputs = {p.stem: np.asarray(load_rgb(p)) for p in list_images(resized_test("A"))}
        identity.update(_prefixed(paired_scores([inputs[p.stem] for p in truth_files], truths), "a2b"))
        colour = np.array(constant["colour_a2b"], dtype=np.uint8)
        constant.update(_prefixed(paired_scores([np.broadcast_to(colour, t.shape) for t in truths], truths), "a2b"))
        true_features = files_features(truth_files, extractor, progress=False)
        result["true"] = distribution_scores(true_features, real_features["B"], "a2b")
    return result


def _prefixed(scores: dict[str, float], suffix: str) -> dict[str, float]:
    return {f"{name}_{suffix}": value for name, value in scores.items()}


def flatten_baselines(baselines: dict[str, dict]) -> dict[str, float]:
    """{"identity": {"fid_a2b": ..}} -> {"identity_fid_a2b": ..}: the results table's columns (scalars only)."""
    return {
        f"{name}_{key}": value
        for name in BASELINES
        for key, value in (baselines.get(name) or {}).items()
        if isinstance(value, (int, float))
    }
