"""Statistics over repeats: group means with a t-based 95% CI; two-group tests (Welch, permutation, Hedges' g).

The design of every comparison here is two independent groups of retraining repeats (each repeat a fresh weight
training and evaluation of a fixed architecture), with unequal variances allowed. So the tests are Welch's t-test
(mean difference, Welch-Satterthwaite degrees of freedom) and, because n is small (2-5 repeats) and FIDs need not
be normal, an exact two-sided permutation test of the mean difference over all relabellings (random relabellings
when there are too many). The effect size is Hedges' g (pooled-SD standardized difference, small-sample corrected).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as _scipy

LEVEL = 0.95
ALPHA = 1.0 - LEVEL
#: Up to this many relabellings the permutation test enumerates them all (5 vs 5 repeats: 252).
EXACT_PERMUTATIONS = 20_000
RANDOM_PERMUTATIONS = 20_000


def _clean(values) -> np.ndarray:
    """The finite values as float64 (NaN marks a failed trial, which takes no part)."""
    array = np.asarray(list(values), dtype="float64")
    return array[np.isfinite(array)]


@dataclass(frozen=True)
class Summary:
    """n, mean, sample std (ddof 1) and the t-based confidence interval of the mean of one group."""

    n: int
    mean: float
    std: float
    ci_low: float
    ci_high: float

    @property
    def half_width(self) -> float:
        return (self.ci_high - self.ci_low) / 2


def summarize(values, level: float = LEVEL) -> Summary:
    """mean +- t_{(1+level)/2, n-1} * s / sqrt(n); std and interval are NaN below 2 values."""
    x = _clean(values)
    n = len(x)
    if n == 0:
        return Summary(0, math.nan, math.nan, math.nan, math.nan)
    mean = float(x.mean())
    if n < 2:
        return Summary(1, mean, math.nan, math.nan, math.nan)
    std = float(x.std(ddof=1))
    half = float(_scipy.t.ppf((1 + level) / 2, n - 1)) * std / math.sqrt(n)
    return Summary(n, mean, std, mean - half, mean + half)


@dataclass(frozen=True)
class Welch:
    """Welch's unequal-variance t-test of mean(a) - mean(b), with the interval of that difference."""

    diff: float
    t: float
    df: float
    p: float
    ci_low: float
    ci_high: float


def welch(a, b, level: float = LEVEL) -> Welch:
    """t = (mean_a - mean_b) / sqrt(s_a^2/n_a + s_b^2/n_b), df by Welch-Satterthwaite, two-sided p.

    NaN where a group has fewer than 2 values or both groups have zero variance (no test is possible).
    """
    a, b = _clean(a), _clean(b)
    nan = Welch(math.nan, math.nan, math.nan, math.nan, math.nan, math.nan)
    if len(a) < 2 or len(b) < 2:
        return nan if not (len(a) and len(b)) else Welch(float(a.mean() - b.mean()), *[math.nan] * 5)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    diff = float(a.mean() - b.mean())
    se = math.sqrt(va + vb)
    if se == 0:
        return Welch(diff, math.nan, math.nan, math.nan, diff, diff)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    t = diff / se
    p = float(2 * _scipy.t.sf(abs(t), df))
    half = float(_scipy.t.ppf((1 + level) / 2, df)) * se
    return Welch(diff, float(t), float(df), p, diff - half, diff + half)


def hedges_g(a, b) -> float:
    """(mean_a - mean_b) / pooled SD, times J = 1 - 3 / (4 (n_a + n_b) - 9) (small-sample bias correction)."""
    a, b = _clean(a), _clean(b)
    na, nb = len(a), len(b)
    if na < 2 or nb < 2:
        return math.nan
    pooled = math.sqrt(((na - 1) * a.var(ddof=1) + (nb - 1) * b.var(ddof=1)) / (na + nb - 2))
    if pooled == 0:
        return math.nan
    correction = 1 - 3 / (4 * (na + nb) - 9)
    return float((a.mean() - b.mean()) / pooled * correction)


@dataclass(frozen=True)
class Permutation:
    """Two-sided permutation p-value of |mean(a) - mean(b)|; `exact` when every relabelling was counted."""

    p: float
    n_resamples: int
    exact: bool


def permutation_test(a, b, seed: int = 0) -> Permutation:
    """Share of relabellings of the pooled values whose |mean difference| >= the observed one; NaN below 2 per group.

    All C(n_a + n_b, n_a) relabellings when there are at most EXACT_PERMUTATIONS (the observed one included, so
    p >= 1 / C); otherwise RANDOM_PERMUTATIONS random ones plus the observed, (k + 1) / (m + 1).
    """
    a, b = _clean(a), _clean(b)
    na, nb = len(a), len(b)
    if na < 2 or nb < 2:  # one value per group: every relabelling is as extreme as the observed one
        return Permutation(math.nan, 0, False)
    pooled = np.concatenate([a, b])
    total = pooled.sum()
    observed = abs(a.mean() - b.mean())
    # Ties in floating point: a relabelling whose difference equals the observed one up to rounding counts.
    tolerance = 1e-12 * max(1.0, float(np.abs(pooled).max()))
    if math.comb(na + nb, na) <= EXACT_PERMUTATIONS:
        index = np.array(list(itertools.combinations(range(na + nb), na)))
        sums_a = pooled[index].sum(axis=1)
        diffs = np.abs(sums_a / na - (total - sums_a) / nb)
        return Permutation(float(np.mean(diffs >= observed - tolerance)), len(index), True)
    rng = np.random.default_rng(seed)
    sums_a = np.array([pooled[rng.permutation(na + nb)[:na]].sum() for _ in range(RANDOM_PERMUTATIONS)])
    diffs = np.abs(sums_a / na - (total - sums_a) / nb)
    hits = int(np.sum(diffs >= observed - tolerance))
    return Permutation((hits + 1) / (RANDOM_PERMUTATIONS + 1), RANDOM_PERMUTATIONS, False)


@dataclass(frozen=True)
class Comparison:
    """Group a against group b on one score: both summaries, the difference a - b and its tests."""

    a: Summary
    b: Summary
    welch: Welch
    hedges_g: float
    permutation: Permutation

    @property
    def relative_diff(self) -> float:
        """(mean_a - mean_b) / mean_b: the paper states gains as a share of the baseline's score."""
        return self.welch.diff / self.b.mean if self.b.mean else math.nan


def compare(a, b, seed: int = 0) -> Comparison:
    return Comparison(summarize(a), summarize(b), welch(a, b), hedges_g(a, b), permutation_test(a, b, seed))


def verdict(name_a: str, name_b: str, score: str, comparison: Comparison, lower_is_better: bool) -> str:
    """One plain sentence: which is better by how much with its CI and p-values, or 'no significant difference'."""
    c = comparison
    if c.a.n == 0 or c.b.n == 0:
        return f"not compared: {name_a if c.a.n == 0 else name_b} has no valid trial"
    if not np.isfinite(c.welch.p):
        return (
            f"not tested: {name_a} - {name_b} = {c.welch.diff:.4g} in mean {score}, but a test needs "
            f"at least 2 trials per group with some spread (n = {c.a.n}, {c.b.n})"
        )
    tests = f"Welch p={c.welch.p:.3g}, permutation p={c.permutation.p:.3g}"
    interval = f"95% CI of the difference [{c.welch.ci_low:.4g}, {c.welch.ci_high:.4g}]"
    if c.welch.p >= ALPHA:
        return (
            f"no significant difference in {score} between {name_a} and {name_b} ({tests}; "
            f"{name_a} - {name_b} = {c.welch.diff:.4g}, {interval})"
        )
    a_better = (c.welch.diff < 0) == lower_is_better
    better, worse = (name_a, name_b) if a_better else (name_b, name_a)
    direction = "lower" if (better == name_a) == (c.welch.diff < 0) else "higher"
    return (
        f"{better} has {direction} {score} than {worse} by {abs(c.welch.diff):.4g} "
        f"({abs(c.relative_diff) * 100:.1f}% of {name_b}'s mean; {interval}; {tests})"
    )
