"""The paper's comparisons with their statistics: N vs C at equal total size (Fig. 5, quickstart), N vs C' at equal
per-generator size and C' vs C (Fig. 6), searched vs CycleGAN per H (Fig. 4), each scheme vs OF (Fig. 3).

Every comparison is per dataset, direction and score, over the retraining repeats of the two models (independent
groups): Welch's t-test (significance at 5%, uncorrected for the number of comparisons), an exact permutation
test, Hedges' g, and a sentence that says the outcome plainly (analysis.stats).
"""

from __future__ import annotations

import pandas as pd

from analysis.grid import DIRECTIONS, Direction, valid_mask
from analysis.labels import is_cyclegan, parse_label
from analysis.stats import compare, verdict

METHOD = (
    "Welch's unequal-variance t-test on the repeats (significant at p < 0.05, not corrected for the number "
    "of comparisons) and an exact two-sided permutation test of the mean difference (all relabellings of the "
    "pooled repeats, random ones above 20,000); effect size Hedges' g (difference / pooled SD, small-sample "
    "corrected); 95% CI of the difference from Welch's t. Differences are model a - model b."
)
#: score name, column of a direction, lower is better, directions it exists for.
SCORES: tuple[tuple[str, str, bool, tuple[str, ...]], ...] = (
    ("KID", "kid", True, ("a2b", "b2a")),
    ("FID", "fid", True, ("a2b", "b2a")),
    ("PSNR", "psnr", False, ("a2b",)),
)
COLUMNS = [
    "figure",
    "dataset",
    "direction",
    "score",
    "design",
    "model_a",
    "model_b",
    "n_a",
    "n_b",
    "mean_a",
    "ci_a_low",
    "ci_a_high",
    "mean_b",
    "ci_b_low",
    "ci_b_high",
    "diff",
    "diff_ci_low",
    "diff_ci_high",
    "relative_diff",
    "hedges_g",
    "welch_t",
    "welch_df",
    "p_welch",
    "p_permutation",
    "permutation",
    "verdict",
]


def _pairs(figure: str, rows: pd.DataFrame) -> list[tuple[str, pd.Series, str, pd.Series, str]]:
    """(name a, mask a, name b, mask b, design) of the comparisons the paper makes in this figure."""
    arch = rows["architecture"]
    pairs = []
    if figure in ("fig5", "quickstart", "fig6", "cpu_mini"):  # cpu_mini: Fig. 5 and Fig. 6 logic at CPU scale
        labels = {a: parse_label(a) for a in arch.dropna().unique()}
        for name, label in sorted(labels.items(), key=lambda kv: str(kv[0])):
            if label is None or label.prefix != "N":
                continue
            c, c_scaled = f"C{label.hidden_dim}", f"C'{label.hidden_dim}"
            if c_scaled in labels:
                pairs.append(
                    (name, arch == name, c_scaled, arch == c_scaled, "equal per-generator size (N vs C', Fig. 6)")
                )
            if c in labels:
                pairs.append((name, arch == name, c, arch == c, "equal total size (N vs C, Fig. 5)"))
            if c_scaled in labels and c in labels:
                pairs.append(
                    (c_scaled, arch == c_scaled, c, arch == c, "scaled hidden dims vs plain CycleGAN (C' vs C, Fig. 6)")
                )
    elif figure == "fig4":
        family = pd.Series(["CycleGAN" if is_cyclegan(a) else "searched" for a in arch], index=rows.index)
        for h in sorted(set(rows["hidden_dim_a"].dropna()) & set(rows["hidden_dim_b"].dropna())):
            same_h = (rows["hidden_dim_a"] == h) & (rows["hidden_dim_b"] == h)
            pairs.append(
                (
                    f"searched H={int(h)}",
                    same_h & (family == "searched"),
                    f"CycleGAN H={int(h)}",
                    same_h & (family == "CycleGAN"),
                    "same hidden dimension H (Fig. 4)",
                )
            )
    elif figure == "fig3":
        for scheme in sorted(s for s in rows["scheme"].dropna().unique() if s != "OF"):
            pairs.append(
                (
                    scheme,
                    rows["scheme"] == scheme,
                    "OF",
                    rows["scheme"] == "OF",
                    "search scheme vs one-step OF (Fig. 3)",
                )
            )
    return pairs


def _record(
    keys: dict, direction: Direction, score: tuple, a: pd.DataFrame, b: pd.DataFrame, name_a: str, name_b: str
) -> dict:
    title, column, lower_is_better, _ = score
    column = f"{column}_{direction.key}"
    values_a = a.loc[valid_mask(a, direction), column].dropna()
    values_b = b.loc[valid_mask(b, direction), column].dropna()
    c = compare(values_a, values_b)
    kind = "exact" if c.permutation.exact else "random"
    return {
        **keys,
        "score": title,
        "model_a": name_a,
        "model_b": name_b,
        "n_a": c.a.n,
        "n_b": c.b.n,
        "mean_a": c.a.mean,
        "ci_a_low": c.a.ci_low,
        "ci_a_high": c.a.ci_high,
        "mean_b": c.b.mean,
        "ci_b_low": c.b.ci_low,
        "ci_b_high": c.b.ci_high,
        "diff": c.welch.diff,
        "diff_ci_low": c.welch.ci_low,
        "diff_ci_high": c.welch.ci_high,
        "relative_diff": c.relative_diff,
        "hedges_g": c.hedges_g,
        "welch_t": c.welch.t,
        "welch_df": c.welch.df,
        "p_welch": c.welch.p,
        "p_permutation": c.permutation.p,
        "permutation": f"{kind}, {c.permutation.n_resamples} relabellings" if c.permutation.n_resamples else "",
        "verdict": verdict(name_a, name_b, title, c, lower_is_better),
    }


def comparison_table(results: pd.DataFrame) -> pd.DataFrame:
    """One row per (figure, dataset, direction, score, pair) with any valid trial on both sides."""
    retrain = results[results["stage"] == "retrain"]
    records = []
    for (figure, dataset), rows in retrain.groupby(["figure", "dataset"], sort=True):
        for name_a, mask_a, name_b, mask_b, design in _pairs(figure, rows):
            for direction in DIRECTIONS:
                for score in SCORES:
                    if direction.key not in score[3]:
                        continue
                    column = f"{score[1]}_{direction.key}"
                    if rows[column].isna().all():
                        continue
                    keys = {"figure": figure, "dataset": dataset, "direction": direction.name, "design": design}
                    records.append(_record(keys, direction, score, rows[mask_a], rows[mask_b], name_a, name_b))
    return pd.DataFrame.from_records(records).reindex(columns=COLUMNS)


def display(table: pd.DataFrame) -> pd.DataFrame:
    """The comparisons for reading: who, n, means with CIs, the difference with its CI, g, both p-values, verdict."""

    def interval(m, lo, hi):
        return "" if pd.isna(m) else (f"{m:.4g}" if pd.isna(lo) else f"{m:.4g} [{lo:.4g}, {hi:.4g}]")

    return pd.DataFrame(
        {
            "figure": table["figure"],
            "dataset": table["dataset"],
            "direction": table["direction"],
            "score": table["score"],
            "a vs b": table["model_a"].astype(object) + " vs " + table["model_b"].astype(object),
            "n (a, b)": [f"{a}, {b}" for a, b in zip(table["n_a"], table["n_b"])],
            "mean a [95% CI]": [interval(*v) for v in zip(table["mean_a"], table["ci_a_low"], table["ci_a_high"])],
            "mean b [95% CI]": [interval(*v) for v in zip(table["mean_b"], table["ci_b_low"], table["ci_b_high"])],
            "a - b [95% CI]": [interval(*v) for v in zip(table["diff"], table["diff_ci_low"], table["diff_ci_high"])],
            "Hedges' g": table["hedges_g"],
            "p (Welch)": table["p_welch"],
            "p (permutation)": table["p_permutation"],
            "verdict": table["verdict"],
        }
    )
