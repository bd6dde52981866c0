"""Evaluation: FID and KID the clean-fid way, offline, with real Inception weights and cached reference statistics.

Layers: `inception` (weights -> extractor) -> `features` (folder -> features) -> `frechet` (FID maths)
-> `reference_cache` (real-image statistics on disk) -> `scores` (FID/KID of two folders). Beside them:
`paired` (L1/PSNR against known true images), `baselines` (identity, mean colour, ground truth, noise floors)
and `generators` (G_A and G_B scored on a test split with all of the above; engine/evaluate.py runs it on a
run folder). Nothing here imports the engine (tests/test_layers.py).
"""

from nasplatform.evaluation.features import DEFAULT_BATCH_SIZE, files_features, folder_features, image_files
from nasplatform.evaluation.frechet import (
    fid_from_features,
    frechet_distance,
    frechet_distance_to_features,
    gaussian_stats,
)
from nasplatform.evaluation.inception import (
    InceptionExtractor,
    InceptionWeightsError,
    WeightSource,
    load_inception,
    resolve_weights,
)
from nasplatform.evaluation.reference_cache import ReferenceCache, ReferenceKey, ReferenceStats
from nasplatform.evaluation.scores import Scores, compute_scores, kid_from_features, kid_std_from_features

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "files_features",
    "folder_features",
    "image_files",
    "fid_from_features",
    "frechet_distance",
    "frechet_distance_to_features",
    "gaussian_stats",
    "InceptionExtractor",
    "InceptionWeightsError",
    "WeightSource",
    "load_inception",
    "resolve_weights",
    "ReferenceCache",
    "ReferenceKey",
    "ReferenceStats",
    "Scores",
    "compute_scores",
    "kid_from_features",
    "kid_std_from_features",
]
