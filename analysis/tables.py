"""Summary tables (CSV + markdown): results with baselines, the paper's comparisons, FID/KID per model and
direction, sizes and times, trial status counts; each says which trials of which experiments it holds."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import compare, headline
from analysis.grid import DIRECTIONS, fill_keys, valid_mask
from analysis.load import provenance
from analysis.stats import summarize

STATUSES: tuple[str, ...] = ("ok", "error", "diverged", "running", "pending")
SCORE_KEYS = ["figure", "dataset", "architecture", "scheme", "hidden_dim", "direction"]
RUN_KEYS = ["figure", "stage", "dataset", "architecture", "scheme", "hidden_dim_a", "hidden_dim_b"]
#: Counts and parameter numbers print as integers when every value is whole (a mean of equal sizes).
WHOLE_NUMBER_COLUMNS = (
    "hidden_dim",
    "hidden_dim_a",
    "hidden_dim_b",
    "n_valid",
    "params",
    "params_g_a",
    "params_g_b",
    "epochs_done",
    "epochs_planned",
)


@dataclass(frozen=True)
class TableFiles:
    """A written table: `table` as shown (markdown, HTML); the CSV holds the full numbers."""

    name: str
    title: str
    csv: Path
    markdown: Path
    table: pd.DataFrame
    holds: str = ""
    note: str = ""


def score_table(results: pd.DataFrame) -> pd.DataFrame:
    """Retrain trials per (figure, dataset, architecture, scheme, H, direction): trial counts, mean/min/max
    FID and KID over the valid trials, the direction's generator size (parameters, MB) and train time."""
    retrain = results[results["stage"] == "retrain"]
    parts = []
    for d in DIRECTIONS:
        rows = retrain.assign(
            direction=d.name,
            hidden_dim=retrain[d.hidden_dim],
            valid=valid_mask(retrain, d),
            fid=retrain[d.fid].where(valid_mask(retrain, d)),
            kid=retrain[d.kid].where(valid_mask(retrain, d)),
            params=retrain[d.params],
            mb=retrain[d.mb],
        )
        parts.append(rows)
    rows = fill_keys(pd.concat(parts, ignore_index=True), [k for k in SCORE_KEYS if k != "hidden_dim"])
    grouped = rows.groupby(SCORE_KEYS, sort=True, dropna=False)
    table = grouped.agg(
        n_trials=("trial_id", "size"),
        n_valid=("valid", "sum"),
        fid_mean=("fid", "mean"),
        fid_min=("fid", "min"),
        fid_max=("fid", "max"),
        kid_mean=("kid", "mean"),
        kid_min=("kid", "min"),
        kid_max=("kid", "max"),
        params=("params", "mean"),
        mb=("mb", "mean"),
        train_time_s=("train_time_s", "mean"),
    ).reset_index()
    for score in ("fid", "kid"):
        spread = [summarize(part[score]) for _, part in grouped]
        table[f"{score}_std"] = [s.std for s in spread]
        table[f"{score}_ci_low"] = [s.ci_low for s in spread]
        table[f"{score}_ci_high"] = [s.ci_high for s in spread]
    first = [*SCORE_KEYS, "n_trials", "n_valid"]
    scores = [f"{s}_{v}" for s in ("fid", "kid") for v in ("mean", "std", "ci_low", "ci_high", "min", "max")]
    return table[first + scores + ["params", "mb", "train_time_s"]]


def run_table(results: pd.DataFrame) -> pd.DataFrame:
    """All trials per (figure, stage, dataset, architecture, scheme, H_a, H_b): both generators' sizes,
    mean search and training wall time, and epochs done out of planned."""
    rows = fill_keys(results, RUN_KEYS[:5])
    table = rows.groupby(RUN_KEYS, sort=True, dropna=False).agg(
        n_trials=("trial_id", "size"),
        params_g_a=("params_g_a", "mean"),
        params_g_b=("params_g_b", "mean"),
        mb_g_a=("mb_g_a", "mean"),
        mb_g_b=("mb_g_b", "mean"),
        search_time_s=("search_time_s", "mean"),
        train_time_s=("train_time_s", "mean"),
        epochs_done=("epochs_done", "sum"),
        epochs_planned=("epochs_planned", "sum"),
    )
    return table.reset_index()


def status_table(results: pd.DataFrame) -> pd.DataFrame:
    """Trial counts by status per (figure, stage); every documented status gets a column."""
    rows = fill_keys(results, ["figure", "stage", "status"])
    counts = pd.crosstab([rows["figure"], rows["stage"]], rows["status"])
    extra = [s for s in counts.columns if s not in STATUSES]
    counts = counts.reindex(columns=[*STATUSES, *extra], fill_value=0)
    counts["total"] = counts.sum(axis=1)
    return counts.reset_index().rename_axis(columns=None)


def whole_numbers(table: pd.DataFrame) -> pd.DataFrame:
    """Nullable-int dtype for WHOLE_NUMBER_COLUMNS whose values are all whole, so CSVs say 32, not 32.0."""
    table = table.copy()
    for column in WHOLE_NUMBER_COLUMNS:
        if column in table and pd.api.types.is_numeric_dtype(table[column]):
            values = table[column].dropna()
            if (values == values.round()).all():
                table[column] = table[column].round().astype("Int64")
    return table


def format_cell(value) -> str:
    """Floats with 4 significant digits, null as an empty cell."""
    if value is None or value is pd.NA or (isinstance(value, (float, np.floating)) and np.isnan(value)):
        return ""
    if isinstance(value, (float, np.floating)):
        return f"{value:.4g}"
    return str(value)


def to_markdown(table: pd.DataFrame) -> str:
    """A pipe table of `table` (cells as format_cell writes them)."""
    lines = ["| " + " | ".join(map(str, table.columns)) + " |", "|" + "---|" * len(table.columns)]
    lines += [
        "| " + " | ".join(format_cell(v).replace("|", "\\|") for v in row) + " |"
        for row in table.itertuples(index=False)
    ]
    return "\n".join(lines) + "\n"


def write_tables(results: pd.DataFrame, folder: Path) -> list[TableFiles]:
    """Write every table as CSV (full numbers) and Markdown (as shown); the first two lead the report."""
    folder.mkdir(parents=True, exist_ok=True)
    retrain = results[results["stage"] == "retrain"]
    retrain_holds, all_holds = f"Holds {provenance(retrain)}.", f"Holds {provenance(results)}."
    best = headline.headline_table(results)
    comparisons = compare.comparison_table(results)
    specs = [
        (
            "results_with_baselines",
            "Results with baselines and noise floors (retrain trials, mean and 95% t-interval over repeats)",
            best,
            headline.display(best),
            retrain_holds,
            headline.KID_NOTE,
        ),
        (
            "comparisons",
            "The paper's comparisons: effect sizes, intervals and p-values",
            comparisons,
            compare.display(comparisons),
            retrain_holds,
            compare.METHOD,
        ),
        (
            "scores",
            "FID and KID per model and direction (retrain trials; sizes of that direction's generator; "
            "std and 95% t-interval over valid repeats)",
            score_table(results),
            None,
            retrain_holds,
            "",
        ),
        ("runs", "Sizes, times and progress per stage", run_table(results), None, all_holds, ""),
        ("trial_status", "Trial counts by status", status_table(results), None, all_holds, ""),
    ]
    written = []
    for name, title, table, shown, holds, note in specs:
        table = whole_numbers(table)
        shown = table if shown is None else shown
        csv, markdown = folder / f"{name}.csv", folder / f"{name}.md"
        table.to_csv(csv, index=False)
        header = "\n\n".join(p for p in (f"# {title}", holds, note) if p)
        markdown.write_text(f"{header}\n\n{to_markdown(shown)}")
        written.append(TableFiles(name, title, csv, markdown, shown, holds, note))
    return written
