"""Evaluation reference points (identity, mean colour, ground truth, noise floor) and KID's spread."""

import math
import shutil

import numpy as np
import pytest
from cleanfid.fid import kernel_distance
from conftest import make_cyclegan_layout

from nasplatform.data.images import list_images, load_rgb, resize_square
from nasplatform.evaluation import fid_from_features, kid_from_features
from nasplatform.evaluation.baselines import BASELINES, flatten_baselines, half_split, mean_colour
from nasplatform.evaluation.generators import GeneratorScorer
from nasplatform.evaluation.scores import _subset_mmd, kid_std_from_features
from nasplatform.tune.collect import BASELINE_COLUMNS

pytestmark = pytest.mark.e2e  # one evaluation run (real Inception) feeds every test

SIZE = 32


@pytest.fixture(scope="module")
def paired_root(tmp_path_factory):
    """A tiny dataset (6 test images a side) with testA_true_B = copies of testB under testA's names."""
    root = make_cyclegan_layout(tmp_path_factory.mktemp("baselines") / "paired", counts=(6, 7, 6, 6), size=40)
    shutil.copytree(root / "testB", root / "testA_true_B")
    for src, dst in zip(sorted((root / "testA_true_B").iterdir()), sorted((root / "testA").iterdir())):
        src.rename(src.with_name(dst.name))
    return root


@pytest.fixture(scope="module")
def baselines(paired_root, inception, tmp_path_factory):
    work = tmp_path_factory.mktemp("baselines_work")
    evaluator = GeneratorScorer(paired_root, SIZE, extractor=inception, cache_dir=work / "cache", progress=False)
    return evaluator, evaluator.baselines(work / "eval")


def _psnr(pred: np.ndarray, true: np.ndarray) -> float:
    mse = np.mean((pred / 255.0 - true / 255.0) ** 2)
    return -10 * math.log10(mse)


def test_identity_paired_error_is_the_hand_computation(paired_root, baselines):
    _, result = baselines
    inputs = [resize_square(load_rgb(p), SIZE).astype(np.float64) for p in list_images(paired_root / "testA")]
    truths = [resize_square(load_rgb(p), SIZE).astype(np.float64) for p in list_images(paired_root / "testA_true_B")]
    expected_psnr = np.mean([_psnr(x, t) for x, t in zip(inputs, truths)])
    expected_l1 = np.mean([np.mean(np.abs(x - t)) / 255.0 for x, t in zip(inputs, truths)])
    assert result["identity"]["psnr_a2b"] == pytest.approx(expected_psnr, rel=1e-9)
    assert result["identity"]["l1_a2b"] == pytest.approx(expected_l1, rel=1e-9)


def test_mean_colour_is_the_training_mean_and_scored_as_a_constant(paired_root, baselines):
    _, result = baselines
    pixels = np.stack([resize_square(load_rgb(p), SIZE) for p in list_images(paired_root / "trainB")])
    colour = np.rint(pixels.reshape(len(pixels), -1, 3).mean(axis=1).mean(axis=0))
    assert result["mean_colour"]["colour_a2b"] == [int(c) for c in colour]
    assert list(mean_colour(paired_root / "trainB", SIZE)) == [int(c) for c in colour]
    truths = [resize_square(load_rgb(p), SIZE).astype(np.float64) for p in list_images(paired_root / "testA_true_B")]
    constant = np.broadcast_to(colour, truths[0].shape)
    assert result["mean_colour"]["psnr_a2b"] == pytest.approx(np.mean([_psnr(constant, t) for t in truths]), rel=1e-9)


def test_ground_truth_equal_to_the_reference_scores_zero(baselines):
    # testA_true_B holds exactly the testB images here, so the "perfect" translation is the reference itself
    # (KID's unbiased estimate of two identical samples is not 0 but the same-sample value computed here)
    evaluator, result = baselines
    real_b = evaluator.real_features("B")
    assert abs(result["true"]["fid_a2b"]) < 1e-3
    assert result["true"]["kid_a2b"] == pytest.approx(kid_from_features(real_b, real_b), abs=1e-6)
    assert result["identity"]["fid_a2b"] > 1.0


def test_noise_floor_is_the_distance_between_disjoint_halves(baselines):
    evaluator, result = baselines
    real_b = evaluator.real_features("B")
    first, second = half_split(len(real_b))
    assert not set(first) & set(second) and len(first) + len(second) == len(real_b)
    assert result["floor"]["fid_a2b"] == pytest.approx(fid_from_features(real_b[first], real_b[second]), rel=1e-6)


def test_flattened_baselines_are_results_table_columns(baselines):
    _, result = baselines
    flat = flatten_baselines(result)
    assert set(flat) == set(BASELINE_COLUMNS)
    assert set(BASELINES) == set(result)


def test_kid_subset_term_matches_clean_fid():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(12, 64)), rng.normal(0.3, 1.0, size=(12, 64))
    np.random.seed(0)  # one subset of all rows: the same sets, in another order
    assert _subset_mmd(x, y) == pytest.approx(kernel_distance(x, y, num_subsets=1), rel=1e-9)


def test_kid_std_is_seeded_and_grows_with_fewer_images():
    rng = np.random.default_rng(2)
    big_x, big_y = rng.normal(size=(200, 64)), rng.normal(0.2, 1.0, size=(200, 64))
    std_big = kid_std_from_features(big_x, big_y)
    assert std_big == kid_std_from_features(big_x, big_y) > 0
    assert kid_std_from_features(big_x[:40], big_y[:40]) > std_big
