"""Fréchet distance: agreement with scipy's sqrtm (clean-fid's formula) and the near-singular case."""

import warnings

import numpy as np
import pytest
from cleanfid.fid import frechet_distance as cleanfid_frechet_distance

from nasplatform.evaluation import (
    fid_from_features,
    frechet_distance,
    frechet_distance_to_features,
    gaussian_stats,
)
from nasplatform.evaluation.frechet import trace_sqrt_product


def _features(n: int, d: int, seed: int, shift: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mixing = rng.standard_normal((d, 8))
    return rng.standard_normal((n, 8)) @ mixing.T * 0.3 + rng.random((n, d)) + shift


def _scipy_reference(mu1, s1, mu2, s2) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy deprecates the sqrtm(disp=...) clean-fid passes
        return float(cleanfid_frechet_distance(mu1, s1, mu2, s2))


@pytest.mark.parametrize("d", [16, 128])
def test_agrees_with_scipy_sqrtm_full_rank(d):
    s1, s2 = gaussian_stats(_features(4 * d, d, 0)), gaussian_stats(_features(3 * d, d, 1, shift=0.2))
    ours = frechet_distance(*s1, *s2)
    assert ours == pytest.approx(_scipy_reference(*s1, *s2), rel=1e-6)
    assert ours > 1.0


def test_near_singular_covariances():
    """Fewer samples than dimensions: rank-deficient sigma; result is real, finite and exact."""
    f1, f2 = _features(10, 256, 2), _features(12, 256, 3, shift=0.1)
    (mu1, s1), (mu2, s2) = gaussian_stats(f1), gaussian_stats(f2)
    assert np.linalg.matrix_rank(s1) < 256
    with pytest.raises(np.linalg.LinAlgError):
        np.linalg.cholesky(s1)  # so the eigh branch runs
    ours = frechet_distance(mu1, s1, mu2, s2)
    assert isinstance(ours, float) and np.isfinite(ours)
    # Independent value: Tr sqrt(S1 S2) is the nuclear norm of A1^T A2 when S_i = A_i A_i^T.
    a1 = (f1 - mu1) / np.sqrt(len(f1) - 1)
    a2 = (f2 - mu2) / np.sqrt(len(f2) - 1)
    trace_sqrt = np.linalg.svd(a1 @ a2.T, compute_uv=False).sum()
    exact = (mu1 - mu2) @ (mu1 - mu2) + np.trace(s1) + np.trace(s2) - 2 * trace_sqrt
    assert ours == pytest.approx(exact, rel=1e-9)
    assert frechet_distance_to_features(f1, mu2, s2) == pytest.approx(exact, rel=1e-9)
    assert fid_from_features(f2, f1) == pytest.approx(exact, rel=1e-9)


def test_singular_product_handled_where_scipy_struggles():
    """Two rank-2 covariances in 64-d: no complex numbers, no crash, trace of the square root exact."""
    rng = np.random.default_rng(4)
    b1, b2 = rng.standard_normal((64, 2)), rng.standard_normal((64, 2))
    s1, s2 = b1 @ b1.T, b2 @ b2.T
    expected = np.linalg.svd(b1.T @ b2, compute_uv=False).sum()
    assert trace_sqrt_product(s1, s2) == pytest.approx(expected, rel=1e-9)


def test_identical_gaussians_give_zero():
    mu, sigma = gaussian_stats(_features(50, 32, 5))
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-9 * np.trace(sigma)


def test_features_path_equals_covariance_path():
    f1, f2 = _features(20, 64, 6), _features(200, 64, 7, shift=0.3)
    expected = frechet_distance(*gaussian_stats(f1), *gaussian_stats(f2))
    assert frechet_distance_to_features(f1, *gaussian_stats(f2)) == pytest.approx(expected, rel=1e-9)
    assert frechet_distance_to_features(f2, *gaussian_stats(f1)) == pytest.approx(expected, rel=1e-9)
    assert fid_from_features(f1, f2) == pytest.approx(fid_from_features(f2, f1), rel=1e-12)


def test_bad_input_is_named():
    mu, sigma = gaussian_stats(_features(10, 8, 8))
    with pytest.raises(ValueError, match="dimensions differ"):
        frechet_distance(mu, sigma, mu[:4], sigma[:4, :4])
    with pytest.raises(ValueError, match="second Gaussian"):
        frechet_distance(mu, sigma, mu, np.full_like(sigma, np.nan))
    with pytest.raises(ValueError, match="N >= 2"):
        gaussian_stats(np.zeros((1, 8)))
