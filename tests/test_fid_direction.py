"""FID direction (docs/design.md §5.2): A->B scores G_A(testA) against real testB, B->A G_B(testB) against real testA.

Known generators make a mix-up visible: G_A returns its input, so A->B must equal FID(testA, testB); G_B turns
every image into its colour negative, a known shift, so using G_B for A->B (or G_A for B->A) changes the score,
and scoring A->B against testA would give FID(testA, testA) = 0.
"""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from nasplatform.evaluation.generators import GeneratorScorer
from nasplatform.evaluation.scores import compute_scores

pytestmark = pytest.mark.slow  # real Inception over two folders


class Negative(nn.Module):
    """A 'generator' mapping an image in [-1, 1] to its colour negative (255 - x in 8-bit)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -x


def negated_copy(folder: Path, out: Path) -> Path:
    out.mkdir(parents=True)
    for path in sorted(folder.glob("*.png")):
        Image.fromarray(255 - np.asarray(Image.open(path).convert("RGB"))).save(out / path.name)
    return out


def test_each_direction_scores_its_generator_against_the_other_domain(tiny_data, tmp_path, inception):
    evaluator = GeneratorScorer(tiny_data, 32, extractor=inception, cache_dir=tmp_path / "cache", progress=False)
    scores = evaluator.score(nn.Identity(), Negative(), tmp_path / "eval")
    real_a, _ = evaluator.reference("A")
    real_b, _ = evaluator.reference("B")

    def score(generated, reference):
        return compute_scores(generated, reference, extractor=inception, progress=False)

    a_vs_b = score(real_a, real_b)
    negative_b_vs_a = score(negated_copy(real_b, tmp_path / "neg_B"), real_a)
    assert scores["fid_a2b"] == pytest.approx(a_vs_b.fid, rel=1e-3)
    assert scores["kid_a2b"] == pytest.approx(a_vs_b.kid, rel=1e-3, abs=1e-6)
    assert scores["fid_b2a"] == pytest.approx(negative_b_vs_a.fid, rel=1e-3)
    # the scores a mix-up would produce are far from these, so the test can tell them apart
    wrong_a2b = {
        "scored against testA": score(real_a, real_a).fid,
        "translated by G_B": score(negated_copy(real_a, tmp_path / "neg_A"), real_b).fid,
    }
    wrong_b2a = {
        "scored against testB": score(negated_copy(real_b, tmp_path / "neg_B2"), real_b).fid,
        "translated by G_A": score(real_b, real_a).fid,
    }
    for name, fid in wrong_a2b.items():
        assert abs(fid - scores["fid_a2b"]) > 1.0, f"A->B {name}: {fid} vs {scores['fid_a2b']}"
    for name, fid in wrong_b2a.items():
        assert abs(fid - scores["fid_b2a"]) > 1.0, f"B->A {name}: {fid} vs {scores['fid_b2a']}"
