"""Normalized size-vs-FID scatter panels shared by Figs. 3, 5, 6 and quickstart.

A cross per trial, a dash per mean, a hatched "missing n" marker per gap; one panel per (direction, dataset).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from analysis.grid import DIRECTIONS, Direction, valid_mask
from analysis.style import DIRECTION_LABEL, FID_NORM_LABEL, MISSING_COLOR, new_figure, suptitle

SizeMode = Literal["row_ref", "sum", "per_generator"]


@dataclass(frozen=True)
class ScatterSpec:
    """How a figure normalizes. `group` is the column telling the compared models apart (scheme or
    architecture); FID is divided by the mean FID of the `reference` group in the same dataset and
    direction. Size: `row_ref` = params_g / ref_params_g of the row (Fig. 3, vs. CycleGAN at the same
    H); `sum` = (params_g_a + params_g_b) / that of the reference (Fig. 5); `per_generator` =
    params_g / the reference's params_g of the same direction (Fig. 6)."""

    group: str
    reference: str
    size_mode: SizeMode
    size_label: str


def _raw_size(rows: pd.DataFrame, spec: ScatterSpec, direction: Direction) -> pd.Series:
    if spec.size_mode == "sum":
        return rows["params_g_a"] + rows["params_g_b"]
    return rows[direction.params]


def _direction_points(rows: pd.DataFrame, spec: ScatterSpec, direction: Direction) -> pd.DataFrame:
    """Every trial row of one direction with its raw and normalized size and FID."""
    out = pd.DataFrame({
        "dataset": rows["dataset"], "direction": direction.name, "group": rows[spec.group],
        "trial_id": rows["trial_id"], "repeat": rows["repeat"], "valid": valid_mask(rows, direction),
        "size": _raw_size(rows, spec, direction), "fid": rows[direction.fid],
    })
    is_ref = out["group"] == spec.reference
    ref_fid = out[is_ref & out["valid"]].groupby("dataset")["fid"].mean()
    if spec.size_mode == "row_ref":
        out["size_ref"] = rows[direction.ref_params]
    else:
        out["size_ref"] = out["dataset"].map(out[is_ref].groupby("dataset")["size"].mean())
    out["fid_ref"] = out["dataset"].map(ref_fid)
    out["x"] = out["size"] / out["size_ref"]
    out["y"] = out["fid"] / out["fid_ref"]
    return out


def scatter_table(rows: pd.DataFrame, gaps: pd.DataFrame, spec: ScatterSpec) -> pd.DataFrame:
    """The plotted numbers: kind = trial (valid trials), mean (per group), missing (per gap)."""
    every = pd.concat([_direction_points(rows, spec, d) for d in DIRECTIONS], ignore_index=True)
    trials = every[every["valid"]].drop(columns="valid").assign(kind="trial")
    keys = ["dataset", "direction", "group"]
    means = trials.groupby(keys, as_index=False)[["size", "fid", "size_ref", "fid_ref", "x", "y"]].mean()
    means = means.assign(kind="mean", n=trials.groupby(keys).size().to_numpy())
    missing = _missing_points(every, means, gaps.rename(columns={spec.group: "group"}))
    columns = ["kind", "dataset", "direction", "group", "trial_id", "repeat", "n",
               "size", "size_ref", "x", "fid", "fid_ref", "y"]
    return pd.concat([trials, means, missing], ignore_index=True).reindex(columns=columns)


def _missing_points(every: pd.DataFrame, means: pd.DataFrame, gaps: pd.DataFrame) -> pd.DataFrame:
    """Where to draw each gap: at the group's mean if it has one, else at its known size (failed
    trials usually still have one) and the reference level y = 1, else nowhere (NaN: panel note)."""
    records = []
    for gap in gaps.itertuples(index=False):
        sel = _same_cell(every, gap)
        mean = means[_same_cell(means, gap)]
        x = float(mean["x"].iloc[0]) if len(mean) else float(every.loc[sel, "x"].mean())
        y = float(mean["y"].iloc[0]) if len(mean) else (1.0 if np.isfinite(x) else np.nan)
        records.append({"kind": "missing", "dataset": gap.dataset, "direction": gap.direction,
                        "group": gap.group, "n": gap.n_missing, "x": x, "y": y})
    return pd.DataFrame.from_records(records, columns=["kind", "dataset", "direction", "group", "n", "x", "y"])


def _same_cell(frame: pd.DataFrame, gap) -> pd.Series:
    return (frame["dataset"] == gap.dataset) & (frame["direction"] == gap.direction) & (frame["group"] == gap.group)


def draw_scatter(table: pd.DataFrame, datasets: list[str], groups: list[str], colors: dict[str, str],
                 spec: ScatterSpec, title: str):
    """Rows: A->B, B->A; columns: datasets. Returns the matplotlib Figure."""
    fig, axes = new_figure(len(DIRECTIONS), len(datasets))
    for r, direction in enumerate(DIRECTIONS):
        for c, dataset in enumerate(datasets):
            panel = table[(table["dataset"] == dataset) & (table["direction"] == direction.name)]
            _draw_panel(axes[r][c], panel, groups, colors, spec)
            axes[r][c].set_title(f"{dataset} — {DIRECTION_LABEL[direction.name]}", fontsize=9)
            axes[r][c].set_xlabel(spec.size_label, fontsize=8)
            axes[r][c].set_ylabel(FID_NORM_LABEL, fontsize=8)
    handles = [axes[0][0].plot([], [], "x", color=colors.get(g, MISSING_COLOR), label=g)[0] for g in groups]
    handles.append(axes[0][0].plot([], [], "_", color="k", markersize=14, mew=2.5, label="mean")[0])
    handles.append(axes[0][0].scatter([], [], marker="s", s=110, facecolor="none", edgecolor=MISSING_COLOR,
                                      hatch="////", label="missing trials"))
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=8)
    suptitle(fig, title)
    return fig


def _draw_panel(ax, panel: pd.DataFrame, groups: list[str], colors: dict[str, str], spec: ScatterSpec) -> None:
    ax.axhline(1.0, color="#bbbbbb", lw=0.8, ls=":")
    ax.axvline(1.0, color="#bbbbbb", lw=0.8, ls=":")
    notes = []
    for group in groups:
        color = colors.get(group, MISSING_COLOR)
        trials = panel[(panel["kind"] == "trial") & (panel["group"] == group)]
        ax.plot(trials["x"], trials["y"], "x", color=color, markersize=7, mew=1.6)
        for mean in panel[(panel["kind"] == "mean") & (panel["group"] == group)].itertuples():
            ax.plot([mean.x], [mean.y], "_", color=color, markersize=18, mew=3)
            ax.annotate(group, (mean.x, mean.y), xytext=(9, -3), textcoords="offset points", fontsize=7, color=color)
        for gap in panel[(panel["kind"] == "missing") & (panel["group"] == group)].itertuples():
            notes += _draw_gap(ax, gap, color)
    unnormalized = panel[(panel["kind"] == "trial") & panel["y"].isna()]
    if len(unnormalized):
        notes.append(f"no valid {spec.reference} FID: {len(unnormalized)} trial(s)\nnot normalizable (see tables)")
    if notes:
        ax.text(0.02, 0.98, "\n".join(notes), transform=ax.transAxes, va="top", fontsize=7, color=MISSING_COLOR,
                bbox={"facecolor": "#fff4f4", "edgecolor": MISSING_COLOR, "linestyle": "--", "alpha": 0.95})
    ax.margins(0.25)
    ax.grid(alpha=0.3)


def _draw_gap(ax, gap, color: str) -> list[str]:
    """A hatched square with "missing n" where the gap can be placed; otherwise a panel note."""
    if not (np.isfinite(gap.x) and np.isfinite(gap.y)):
        return [f"{gap.group}: missing {int(gap.n)}"]
    ax.scatter([gap.x], [gap.y], marker="s", s=160, facecolor="none", edgecolor=color, hatch="////", zorder=3)
    ax.annotate(f"missing {int(gap.n)}", (gap.x, gap.y), xytext=(0, 13), textcoords="offset points", ha="center",
                fontsize=7, color=MISSING_COLOR, fontweight="bold",
                bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.8})
    return []
