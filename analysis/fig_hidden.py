"""Fig. 4: FID against hidden dimension H per dataset and direction, CycleGAN (red) vs searched (green).

The mean is a line with 95% t-interval error bars, the min-max range a light band, gaps hatched markers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.transforms import blended_transform_factory

from analysis.figures import retrain_rows
from analysis.grid import DIRECTIONS, fill_keys, gap_caption, grid_gaps, valid_mask
from analysis.labels import is_cyclegan
from analysis.load import provenance
from analysis.stats import summarize
from analysis.style import (
    CYCLEGAN_RED,
    DIRECTION_LABEL,
    FID_LABEL,
    HIDDEN_LABEL,
    LEGEND_COLUMNS,
    MISSING_COLOR,
    SEARCHED_GREEN,
    FigureResult,
    new_figure,
    save_figure,
    suptitle,
)

FAMILY_COLORS: dict[str, str] = {"CycleGAN": CYCLEGAN_RED, "searched": SEARCHED_GREEN}
KEYS = ["dataset", "family", "H"]


def _with_family(rows: pd.DataFrame) -> pd.DataFrame:
    return rows.assign(family=["CycleGAN" if is_cyclegan(a) else "searched" for a in rows["architecture"]])


def _direction_gaps(rows: pd.DataFrame) -> pd.DataFrame:
    """Gaps per direction, the grid's H being that direction's generator's hidden dim."""
    parts = []
    for direction in DIRECTIONS:
        gaps = grid_gaps(fill_keys(rows.assign(H=rows[direction.hidden_dim]), KEYS), KEYS)
        parts.append(gaps[gaps["direction"] == direction.name])
    return pd.concat(parts, ignore_index=True)


def hidden_table(rows: pd.DataFrame, gaps: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, direction, family, H): n valid trials, mean, min and max FID, and n_missing."""
    parts = []
    for direction in DIRECTIONS:
        valid = rows[valid_mask(rows, direction)].assign(H=lambda r, d=direction: r[d.hidden_dim])
        records = []
        for (dataset, family, h), part in valid.groupby(["dataset", "family", "H"]):
            s = summarize(part[direction.fid])
            records.append(
                {
                    "dataset": dataset,
                    "family": family,
                    "H": h,
                    "n": s.n,
                    "fid_mean": s.mean,
                    "fid_std": s.std,
                    "fid_ci_low": s.ci_low,
                    "fid_ci_high": s.ci_high,
                    "fid_min": part[direction.fid].min(),
                    "fid_max": part[direction.fid].max(),
                }
            )
        columns = [
            "dataset",
            "family",
            "H",
            "n",
            "fid_mean",
            "fid_std",
            "fid_ci_low",
            "fid_ci_high",
            "fid_min",
            "fid_max",
        ]
        parts.append(pd.DataFrame.from_records(records, columns=columns).assign(direction=direction.name))
    table = pd.concat(parts, ignore_index=True)
    missing = gaps[KEYS + ["direction", "n_missing"]].copy()
    missing["H"] = pd.to_numeric(missing["H"], errors="coerce")
    table = table.merge(missing, on=KEYS + ["direction"], how="outer")
    table["n"] = table["n"].fillna(0).astype(int)
    table["n_missing"] = table["n_missing"].fillna(0).astype(int)
    columns = ["dataset", "direction", *columns[1:], "n_missing"]  # the per-direction columns, direction second
    return table[columns].sort_values(["dataset", "direction", "family", "H"], ignore_index=True)


def hidden_dim_figure(results: pd.DataFrame, folder: Path) -> FigureResult | None:
    rows = retrain_rows(results, "fig4")
    if rows.empty:
        return None
    rows = _with_family(rows)
    gaps = _direction_gaps(rows)
    table = hidden_table(rows, gaps)
    n_missing = int(gaps["n_missing"].sum())
    title = "Fig. 4 — FID vs hidden dimension H: CycleGAN (red) vs searched (green), mean with 95% CI"
    holds = f"Holds {provenance(rows)}."
    fig = _draw(
        table,
        sorted(rows["dataset"].unique(), key=str),
        title + f"\n{holds}" + (f"\nINCOMPLETE: lacks {n_missing} trial result(s)" if n_missing else ""),
    )
    files = save_figure(fig, table, folder, "fig4_hidden_dim")
    caption = (
        f"{title}. Line: mean FID; error bars: 95% t-interval of the mean over repeats; light band: "
        f"min-max. {holds} {gap_caption(gaps)}"
    ).strip()
    return FigureResult("fig4_hidden_dim", title, caption, files, n_missing)


def _draw(table: pd.DataFrame, datasets: list[str], title: str):
    fig, axes = new_figure(len(DIRECTIONS), len(datasets))
    for r, direction in enumerate(DIRECTIONS):
        for c, dataset in enumerate(datasets):
            ax = axes[r][c]
            panel = table[(table["dataset"] == dataset) & (table["direction"] == direction.name)]
            for family, color in FAMILY_COLORS.items():
                _draw_family(ax, panel[panel["family"] == family].sort_values("H"), color, family)
            ax.set_title(f"{dataset} — {DIRECTION_LABEL[direction.name]}", fontsize=9)
            ax.set_xlabel(HIDDEN_LABEL, fontsize=8)
            ax.set_ylabel(FID_LABEL, fontsize=8)
            _h_axis(ax, panel["H"])
    handles = [axes[0][0].plot([], [], "-o", color=c, label=f"{f} mean ± 95% CI")[0] for f, c in FAMILY_COLORS.items()]
    handles.append(
        axes[0][0].scatter(
            [], [], marker="s", s=110, facecolor="none", edgecolor=MISSING_COLOR, hatch="////", label="missing trials"
        )
    )
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), LEGEND_COLUMNS), fontsize=8)
    suptitle(fig, title)
    return fig


def _h_axis(ax, hidden_dims: pd.Series) -> None:
    """H sweeps double (16, 32, 64, 128): a log2 axis with a tick at every H present."""
    ticks = sorted(h for h in hidden_dims.unique() if np.isfinite(h) and h > 0)
    if ticks:
        ax.set_xscale("log", base=2)
        ax.set_xticks(ticks, [str(int(h)) for h in ticks])
        ax.minorticks_off()
    ax.grid(alpha=0.3)
    ax.margins(x=0.12, y=0.15)


def _draw_family(ax, part: pd.DataFrame, color: str, family: str) -> None:
    valid = part[part["n"] > 0]
    ax.plot(valid["H"], valid["fid_mean"], "-o", color=color, lw=2.2, markersize=4, label=family)
    ax.fill_between(valid["H"], valid["fid_min"], valid["fid_max"], color=color, alpha=0.12, lw=0)
    bars = valid[valid["fid_ci_low"].notna()]
    ax.errorbar(
        bars["H"],
        bars["fid_mean"],
        yerr=[bars["fid_mean"] - bars["fid_ci_low"], bars["fid_ci_high"] - bars["fid_mean"]],
        fmt="none",
        ecolor=color,
        elinewidth=1.3,
        capsize=4,
    )
    # Gaps sit on their mean if the H has any valid trial, else along the panel's bottom edge.
    on_bottom = blended_transform_factory(ax.transData, ax.transAxes)
    for gap in part[part["n_missing"] > 0].itertuples():
        if not np.isfinite(gap.H):
            continue
        has_mean = np.isfinite(gap.fid_mean)
        xy, transform = ((gap.H, gap.fid_mean), ax.transData) if has_mean else ((gap.H, 0.06), on_bottom)
        ax.scatter(
            [xy[0]],
            [xy[1]],
            transform=transform,
            marker="s",
            s=150,
            facecolor="none",
            edgecolor=color,
            hatch="////",
            zorder=3,
        )
        ax.annotate(
            f"missing {gap.n_missing}",
            xy,
            xycoords=transform,
            xytext=(6, 6),
            textcoords="offset points",
            fontsize=7,
            color=MISSING_COLOR,
            fontweight="bold",
        )
