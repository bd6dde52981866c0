"""FID/KID of image folders: zero on identical sets, growing with blur, equal to clean-fid's own compute_fid."""

import warnings

import numpy as np
import pytest
import torch

from nasplatform.evaluation import (
    ReferenceKey,
    compute_scores,
    fid_from_features,
    folder_features,
    kid_from_features,
)

pytest_plugins = ["conftest_fid"]
N_IMAGES = 6
BLURS = (0.5, 1.5, 3.0)


@pytest.fixture(scope="module")
def folders(tmp_path_factory, pattern_images):
    root = tmp_path_factory.mktemp("fid-images")
    return {
        "real": pattern_images(root / "real", N_IMAGES, seed=0),
        "other": pattern_images(root / "other", N_IMAGES, seed=1),
        **{f"blur{r}": pattern_images(root / f"blur{r}", N_IMAGES, seed=0, blur=r) for r in BLURS},
    }


@pytest.fixture(scope="module")
def features(folders, inception):
    return {
        name: folder_features(folder, inception, progress=False) for name, folder in folders.items() if name != "other"
    }


def test_identical_sets_score_zero(features):
    assert abs(fid_from_features(features["real"], features["real"])) < 1e-6


def test_fid_grows_with_blur(features):
    fids = [fid_from_features(features[f"blur{r}"], features["real"]) for r in BLURS]
    assert 1.0 < fids[0] < fids[1] < fids[2]


@pytest.mark.slow  # clean-fid's scipy sqrtm at 2048-d alone takes ~15 s on 2 cores
def test_equals_cleanfid_compute_fid(folders, inception, cleanfid_weights_dir, monkeypatch):
    """clean-fid's default path (its own InceptionV3W, resize, sqrtm) on the same weights gives the same FID."""
    import cleanfid.features
    import cleanfid.fid
    from cleanfid.inception_torchscript import InceptionV3W

    # clean-fid hard-codes /tmp for its weights; point its loader at our temp copy instead of writing there.
    monkeypatch.setattr(
        cleanfid.features, "InceptionV3W", lambda path, **kw: InceptionV3W(str(cleanfid_weights_dir), **kw)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript and sqrtm(disp=...) deprecations inside clean-fid
        expected = cleanfid.fid.compute_fid(
            str(folders["other"]),
            str(folders["real"]),
            mode="clean",
            device=torch.device("cpu"),
            num_workers=0,
            verbose=False,
        )
    scores = compute_scores(folders["other"], folders["real"], extractor=inception, progress=False)
    assert scores.fid == pytest.approx(expected, rel=1e-3)
    assert scores.fid > 1.0 and np.isfinite(scores.kid)
    assert (scores.n_generated, scores.n_reference, scores.reference_cache_hit) == (N_IMAGES, N_IMAGES, None)
    assert scores.extractor_id == inception.id and scores.extractor_source == inception.source


def test_kid_is_deterministic_and_leaves_numpy_rng_alone(features):
    np.random.seed(123)
    before = np.random.random()
    np.random.seed(123)
    kid = kid_from_features(features["blur3.0"], features["real"])
    assert np.random.random() == before
    assert kid_from_features(features["blur3.0"], features["real"]) == kid and np.isfinite(kid)


def test_bad_folders_are_named(folders, inception, tmp_path, pattern_images):
    with pytest.raises(FileNotFoundError, match="missing"):
        compute_scores(tmp_path / "missing", folders["real"], extractor=inception, progress=False)
    single = pattern_images(tmp_path / "single", 1, seed=3)
    with pytest.raises(ValueError, match="single.*at least 2 images"):
        compute_scores(single, folders["real"], extractor=inception, progress=False)
    with pytest.raises(ValueError, match="ReferenceCache"):
        compute_scores(
            folders["real"], folders["real"], extractor=inception, reference_key=ReferenceKey("a", "b"), progress=False
        )
