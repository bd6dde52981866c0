"""Markdown tables of a CPU mini-reproduction's results table (docs/results/cpu_mini.md): searches, models, baselines.

    python scripts/cpu_mini_summary.py docs/results/cpu_mini.parquet

Reads the Parquet results table only (pandas; no torch, no Ray). Per architecture: n finished trials, mean and
std over them of paired PSNR A->B, KID and FID both directions, and the generators' parameters; the baselines
and noise floors of the test set (the same in every row of one dataset and size); the searches' decisiveness.
Significance tests of the paper's comparisons come from `python -m analysis report` (analysis/).
"""

from __future__ import annotations

import sys

import pandas as pd

SCORES = (
    ("psnr_a2b", "PSNR A->B (dB)", 2),
    ("kid_a2b", "KID A->B", 4),
    ("kid_b2a", "KID B->A", 4),
    ("fid_a2b", "FID A->B", 1),
    ("fid_b2a", "FID B->A", 1),
)
BASELINES = (
    ("identity_", "identity map"),
    ("mean_colour_", "mean colour"),
    ("true_", "ground truth (testA_true_B)"),
    ("floor_", "noise floor (halves of real test)"),
)
ORDER = ("C", "N", "C'")


def _label_key(label: str) -> tuple:
    family = label.rstrip("0123456789")
    return (int(label[len(family) :] or 0), ORDER.index(family) if family in ORDER else 9, label)


def model_table(retrain: pd.DataFrame) -> str:
    ok = retrain[retrain["status"] == "ok"]
    lines = [
        "| model | H_A / H_B | params G_A + G_B | n | "
        + " | ".join(f"{name} mean ± std" for _, name, _ in SCORES)
        + " |",
        "|---|---|---|---|" + "---|" * len(SCORES),
    ]
    for label in sorted(retrain["architecture"].dropna().unique(), key=_label_key):
        rows = ok[ok["architecture"] == label]
        dims = sorted(
            {
                f"{a} / {b}"
                for a, b in zip(
                    retrain.loc[retrain["architecture"] == label, "hidden_dim_a"],
                    retrain.loc[retrain["architecture"] == label, "hidden_dim_b"],
                )
            }
        )
        params = (rows["params_g_a"] + rows["params_g_b"]).astype(float)
        cells = []
        for column, _, digits in SCORES:
            values = rows[column].dropna().astype(float) if column in rows else pd.Series(dtype=float)
            cells.append(
                f"{values.mean():.{digits}f} ± {values.std(ddof=1):.{digits}f}"
                if len(values) > 1
                else (f"{values.iloc[0]:.{digits}f}" if len(values) else "-")
            )
        size = f"{params.mean():,.0f}" if len(params) else "-"
        lines.append(
            f"| {label} | {', '.join(dims)} | {size} | "
            f"{len(rows)} of {int((retrain['architecture'] == label).sum())} | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines)


def baseline_table(retrain: pd.DataFrame) -> str:
    ok = retrain[retrain["status"] == "ok"]
    lines = [
        "| reference | PSNR A->B (dB) | KID A->B (± std) | FID A->B | KID B->A (± std) | FID B->A |",
        "|---|---|---|---|---|---|",
    ]
    for prefix, name in BASELINES:

        def value(metric: str, digits: int, prefix: str = prefix) -> str:
            column = prefix + metric
            if column not in ok or ok[column].dropna().empty:
                return "-"
            return f"{ok[column].dropna().astype(float).iloc[0]:.{digits}f}"

        def kid(direction: str) -> str:
            k, s = value(f"kid_{direction}", 4), value(f"kid_{direction}_std", 4)
            return k if s == "-" else f"{k} ± {s}"

        lines.append(
            f"| {name} | {value('psnr_a2b', 2)} | {kid('a2b')} | {value('fid_a2b', 1)} | {kid('b2a')} | "
            f"{value('fid_b2a', 1)} |"
        )
    return "\n".join(lines)


def search_table(search: pd.DataFrame) -> str:
    lines = [
        "| search | seed | status | final alpha_entropy | genotype_stable_since | epochs | wall s |",
        "|---|---|---|---|---|---|---|",
    ]
    for _, row in search.sort_values("seed").iterrows():
        entropy = row.get("alpha_entropy")
        since = row.get("genotype_stable_since")
        seconds = row["search_time_s"]
        lines.append(
            f"| {row['scheme']} | {row['seed']} | {row['status']} | "
            f"{'-' if pd.isna(entropy) else f'{entropy:.3f}'} | {'-' if pd.isna(since) else int(since)} | "
            f"{row['epochs_done']} of {row['epochs_planned']} | "
            f"{'-' if pd.isna(seconds) else f'{seconds:.0f}'} |"
        )
    return "\n".join(lines)


def main(path: str) -> None:
    table = pd.read_parquet(path)
    print("### Searches\n\n" + search_table(table[table["stage"] == "search"]) + "\n")
    retrain = table[table["stage"] == "retrain"]
    print("### Models (mean ± std over finished trials)\n\n" + model_table(retrain) + "\n")
    print("### Baselines and noise floors of the test set\n\n" + baseline_table(retrain))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
