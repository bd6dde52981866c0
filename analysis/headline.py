"""The report's first table: each model's KID, FID and PSNR (mean, 95% CI) next to the baselines and noise floors.

A reader sees where a score sits between "learned nothing" (the identity map, a constant image of the target
domain's mean colour) and "as good as real data" (the ground truth where the dataset has it, and the noise
floor: two disjoint halves of the real test set scored against each other). KID leads: with small test sets
FID is biased upward and KID (with its std over subsets) is the primary distribution score.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.grid import DIRECTIONS, NO_VALUE, Direction, fill_keys, valid_mask
from analysis.labels import label_order, model_names
from analysis.stats import summarize

KID_NOTE = (
    "With small test sets KID is the primary distribution score: FID's estimate is biased upward when there are "
    "few images (so it is not comparable across test-set sizes), KID's is unbiased, and its std over subsets "
    "(kid_est_std) says how precise one evaluation is. kid_scale places a model's mean KID between the identity map "
    "(0 = learned nothing) and the noise floor of real data (1 = indistinguishable from real images)."
)

#: (row label, column prefix, directions it exists for). Ground truth exists only for paired data (A->B).
BASELINES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("baseline: identity (output = input)", "identity_", ("a2b", "b2a")),
    ("baseline: mean colour of the target domain", "mean_colour_", ("a2b", "b2a")),
    ("ground truth (testA_true_B vs real testB)", "true_", ("a2b",)),
    ("noise floor (real test half vs real test half)", "floor_", ("a2b", "b2a")),
)
COLUMNS = [
    "figure",
    "dataset",
    "direction",
    "kind",
    "name",
    "n",
    "kid_mean",
    "kid_ci_low",
    "kid_ci_high",
    "kid_est_std",
    "kid_scale",
    "fid_mean",
    "fid_ci_low",
    "fid_ci_high",
    "psnr_mean",
    "psnr_ci_low",
    "psnr_ci_high",
]


def _column(rows: pd.DataFrame, name: str) -> pd.Series:
    """A column, or all-NaN where the table predates it."""
    return rows[name] if name in rows else pd.Series(np.nan, index=rows.index)


def _model_record(part: pd.DataFrame, direction: Direction) -> dict:
    valid = part[valid_mask(part, direction)]
    kid, fid = summarize(valid[direction.kid]), summarize(valid[direction.fid])
    record = {
        "kind": "model",
        "n": len(valid),
        "kid_mean": kid.mean,
        "kid_ci_low": kid.ci_low,
        "kid_ci_high": kid.ci_high,
        "kid_est_std": _column(valid, f"{direction.kid}_std").mean(),
        "fid_mean": fid.mean,
        "fid_ci_low": fid.ci_low,
        "fid_ci_high": fid.ci_high,
    }
    if direction.key == "a2b":
        psnr = summarize(valid["psnr_a2b"])
        record.update(psnr_mean=psnr.mean, psnr_ci_low=psnr.ci_low, psnr_ci_high=psnr.ci_high)
    return record


def _baseline_records(part: pd.DataFrame, direction: Direction) -> list[dict]:
    """One row per baseline the table carries; the value is the mean over the trials (the same test set gives
    the same baseline, so they agree up to the KID subset sampling)."""
    records = []
    for label, prefix, keys in BASELINES:
        if direction.key not in keys:
            continue
        values = {
            "kid_mean": _column(part, f"{prefix}kid_{direction.key}").mean(),
            "kid_est_std": _column(part, f"{prefix}kid_{direction.key}_std").mean(),
            "fid_mean": _column(part, f"{prefix}fid_{direction.key}").mean(),
        }
        if direction.key == "a2b":
            values["psnr_mean"] = _column(part, f"{prefix}psnr_a2b").mean()
        if all(pd.isna(v) for v in values.values()):
            continue
        records.append({"kind": "baseline", "name": label, **values})
    return records


def headline_table(results: pd.DataFrame) -> pd.DataFrame:
    """Per (figure, dataset, direction): one row per model (n valid trials, mean and 95% t-interval of KID, FID
    and, A->B, paired PSNR), then one row per baseline and floor present in the table."""
    retrain = results[results["stage"] == "retrain"]
    if retrain.empty:
        return pd.DataFrame(columns=COLUMNS)
    retrain = fill_keys(retrain, ["figure", "dataset"]).assign(name=model_names(retrain))
    records = []
    for (figure, dataset), cell in retrain.groupby(["figure", "dataset"], sort=True):
        for direction in DIRECTIONS:
            keys = {"figure": figure, "dataset": dataset, "direction": direction.name}
            models = [
                {**keys, "name": name, **_model_record(cell[cell["name"] == name], direction)}
                for name in label_order(sorted(set(cell["name"])))
            ]
            baselines = [{**keys, **b} for b in _baseline_records(cell, direction)]
            identity = next((b["kid_mean"] for b in baselines if b["name"].startswith("baseline: identity")), np.nan)
            floor = next((b["kid_mean"] for b in baselines if b["name"].startswith("noise floor")), np.nan)
            for record in models:
                # 0 = as far as the identity map, 1 = at the real-data noise floor; NaN without both.
                span = identity - floor
                record["kid_scale"] = (identity - record["kid_mean"]) / span if span and np.isfinite(span) else np.nan
            records += models + baselines
    table = pd.DataFrame.from_records(records).reindex(columns=COLUMNS)
    return table.replace({"figure": {NO_VALUE: None}})


def display(table: pd.DataFrame) -> pd.DataFrame:
    """The headline for reading: 'mean [low, high]' cells, the empty columns of a table without them dropped."""
    out = table[["figure", "dataset", "direction", "name", "n"]].copy()
    out["n"] = out["n"].astype("Int64")
    for score in ("kid", "fid", "psnr"):
        if table[f"{score}_mean"].notna().any():
            out[f"{score.upper()} mean [95% CI]"] = [
                _interval(m, lo, hi)
                for m, lo, hi in zip(table[f"{score}_mean"], table[f"{score}_ci_low"], table[f"{score}_ci_high"])
            ]
        if score == "kid":
            if table["kid_est_std"].notna().any():
                out["KID std (subsets)"] = table["kid_est_std"]
            if table["kid_scale"].notna().any():
                out["KID scale (0 identity, 1 floor)"] = table["kid_scale"]
    return out


def _interval(mean, low, high) -> str:
    if pd.isna(mean):
        return ""
    if pd.isna(low):
        return f"{mean:.4g}"
    return f"{mean:.4g} [{low:.4g}, {high:.4g}]"
