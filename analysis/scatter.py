"""Normalized size-vs-FID scatter panels shared by Figs. 3, 5, 6 and quickstart.

A cross per trial, a dash per mean, a hatched "missing n" marker per gap; one panel per (direction, dataset).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from matplotlib.transforms import offset_copy

from analysis.grid import DIRECTIONS, Direction, valid_mask
from analysis.stats import summarize
from analysis.style import DIRECTION_LABEL, FID_NORM_LABEL, LEGEND_COLUMNS, MISSING_COLOR, new_figure, suptitle

SizeMode = Literal["row_ref", "per_generator"]


@dataclass(frozen=True)
class ScatterSpec:
    """How a figure normalizes. `group` is the column telling the compared models apart (scheme or
    architecture); FID is divided by the mean FID of the `reference` group in the same dataset and
    direction. Size is always the size of the direction's own generator (A->B: G_A, B->A: G_B), as in the
    paper's Figs. 3, 5 and 6: `row_ref` = params_g / ref_params_g of the row (Fig. 3, vs. the CycleGAN
    generator at the same H); `per_generator` = params_g / the mean params_g of the reference group's
    trials in the same dataset and direction, as measured by the platform (Fig. 5: C32, Fig. 6: C64)."""

    group: str
    reference: str
    size_mode: SizeMode
    size_label: str


def _raw_size(rows: pd.DataFrame, direction: Direction) -> pd.Series:
    return rows[direction.params]


def _direction_points(rows: pd.DataFrame, spec: ScatterSpec, direction: Direction) -> pd.DataFrame:
    """Every trial row of one direction with its raw and normalized size and FID."""
    out = pd.DataFrame(
        {
            "dataset": rows["dataset"],
            "direction": direction.name,
            "group": rows[spec.group],
            "trial_id": rows["trial_id"],
            "repeat": rows["repeat"],
            "valid": valid_mask(rows, direction),
            "size": _raw_size(rows, direction),
            "fid": rows[direction.fid],
        }
    )
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
    means = _with_intervals(means, trials, keys)
    missing = _missing_points(every, means, gaps.rename(columns={spec.group: "group"}))
    columns = [
        "kind",
        "dataset",
        "direction",
        "group",
        "trial_id",
        "repeat",
        "n",
        "size",
        "size_ref",
        "x",
        "fid",
        "fid_std",
        "fid_ci_low",
        "fid_ci_high",
        "fid_ref",
        "y",
        "y_ci_low",
        "y_ci_high",
    ]
    return pd.concat([trials, means, missing], ignore_index=True).reindex(columns=columns)


def _with_intervals(means: pd.DataFrame, trials: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """FID std and 95% t-interval of each group's mean; y's interval is FID's divided by the reference mean
    (the reference mean is taken as fixed, so the reference group's own interval shows its spread)."""
    records = []
    for key, part in trials.groupby(keys):
        s = summarize(part["fid"])
        records.append({**dict(zip(keys, key)), "fid_std": s.std, "fid_ci_low": s.ci_low, "fid_ci_high": s.ci_high})
    intervals = pd.DataFrame.from_records(records, columns=[*keys, "fid_std", "fid_ci_low", "fid_ci_high"])
    means = means.merge(intervals, on=keys, how="left")
    means["y_ci_low"] = means["fid_ci_low"] / means["fid_ref"]
    means["y_ci_high"] = means["fid_ci_high"] / means["fid_ref"]
    return means


def _missing_points(every: pd.DataFrame, means: pd.DataFrame, gaps: pd.DataFrame) -> pd.DataFrame:
    """Where to draw each gap: at the group's mean if it has one, else at its known size (failed
    trials usually still have one) and the reference level y = 1, else nowhere (NaN: panel note)."""
    records = []
    for gap in gaps.itertuples(index=False):
        sel = _same_cell(every, gap)
        mean = means[_same_cell(means, gap)]
        x = float(mean["x"].iloc[0]) if len(mean) else float(every.loc[sel, "x"].mean())
        y = float(mean["y"].iloc[0]) if len(mean) else (1.0 if np.isfinite(x) else np.nan)
        records.append(
            {
                "kind": "missing",
                "dataset": gap.dataset,
                "direction": gap.direction,
                "group": gap.group,
                "n": gap.n_missing,
                "x": x,
                "y": y,
            }
        )
    return pd.DataFrame.from_records(records, columns=["kind", "dataset", "direction", "group", "n", "x", "y"])


def _same_cell(frame: pd.DataFrame, gap) -> pd.Series:
    return (frame["dataset"] == gap.dataset) & (frame["direction"] == gap.direction) & (frame["group"] == gap.group)


def draw_scatter(
    table: pd.DataFrame, datasets: list[str], groups: list[str], colors: dict[str, str], spec: ScatterSpec, title: str
):
    """Rows: A->B, B->A; columns: datasets. Returns the matplotlib Figure."""
    fig, axes = new_figure(len(DIRECTIONS), len(datasets))
    for r, direction in enumerate(DIRECTIONS):
        for c, dataset in enumerate(datasets):
            panel = table[(table["dataset"] == dataset) & (table["direction"] == direction.name)]
            _draw_panel(axes[r][c], panel, groups, colors, spec)
            axes[r][c].set_title(f"{dataset} — {DIRECTION_LABEL[direction.name]}", fontsize=9)
            axes[r][c].set_xlabel(spec.size_label.format(g=direction.generator.upper()), fontsize=8)
            axes[r][c].set_ylabel(FID_NORM_LABEL, fontsize=8)
    handles = [axes[0][0].plot([], [], "x", color=colors.get(g, MISSING_COLOR), label=g)[0] for g in groups]
    handles.append(
        axes[0][0].errorbar(
            [],
            [],
            yerr=[],
            fmt="_",
            color="k",
            markersize=14,
            mew=2.5,
            capsize=4,
            label="mean ± 95% CI (t, over repeats)",
        )
    )
    handles.append(
        axes[0][0].scatter(
            [], [], marker="s", s=110, facecolor="none", edgecolor=MISSING_COLOR, hatch="////", label="missing trials"
        )
    )
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), LEGEND_COLUMNS), fontsize=8)
    suptitle(fig, title)
    return fig


def _draw_panel(ax, panel: pd.DataFrame, groups: list[str], colors: dict[str, str], spec: ScatterSpec) -> None:
    ax.axhline(1.0, color="#bbbbbb", lw=0.8, ls=":")
    ax.axvline(1.0, color="#bbbbbb", lw=0.8, ls=":")
    notes = []
    for i, group in enumerate(groups):
        color = colors.get(group, MISSING_COLOR)
        # Groups of equal size (C'64 and N64 in Fig. 6) share x: their bars are drawn a few points apart.
        dodged = offset_copy(ax.transData, fig=ax.figure, x=3.0 * (i - (len(groups) - 1) / 2), units="points")
        trials = panel[(panel["kind"] == "trial") & (panel["group"] == group)]
        ax.plot(trials["x"], trials["y"], "x", color=color, markersize=7, mew=1.6)
        for mean in panel[(panel["kind"] == "mean") & (panel["group"] == group)].itertuples():
            ax.plot([mean.x], [mean.y], "_", color=color, markersize=18, mew=3)
            if np.isfinite(mean.y_ci_low) and np.isfinite(mean.y_ci_high):
                ax.errorbar(
                    [mean.x],
                    [mean.y],
                    yerr=[[mean.y - mean.y_ci_low], [mean.y_ci_high - mean.y]],
                    fmt="none",
                    ecolor=color,
                    elinewidth=1.4,
                    capsize=5,
                    capthick=1.4,
                    alpha=0.85,
                    transform=dodged,
                )
                # A transform other than transData leaves the bars out of autoscaling; their ends count here.
                ax.update_datalim([(mean.x, mean.y_ci_low), (mean.x, mean.y_ci_high)])
            ax.annotate(group, (mean.x, mean.y), xytext=(9, -3), textcoords="offset points", fontsize=7, color=color)
        for gap in panel[(panel["kind"] == "missing") & (panel["group"] == group)].itertuples():
            notes += _draw_gap(ax, gap, color)
    unnormalized = panel[(panel["kind"] == "trial") & panel["y"].isna()]
    if len(unnormalized):
        notes.append(f"no valid {spec.reference} FID: {len(unnormalized)} trial(s)\nnot normalizable (see tables)")
    if notes:
        ax.text(
            0.02,
            0.98,
            "\n".join(notes),
            transform=ax.transAxes,
            va="top",
            fontsize=7,
            color=MISSING_COLOR,
            bbox={"facecolor": "#fff4f4", "edgecolor": MISSING_COLOR, "linestyle": "--", "alpha": 0.95},
        )
    ax.margins(0.25)
    ax.grid(alpha=0.3)


def _draw_gap(ax, gap, color: str) -> list[str]:
    """A hatched square with "missing n" where the gap can be placed; otherwise a panel note."""
    if not (np.isfinite(gap.x) and np.isfinite(gap.y)):
        return [f"{gap.group}: missing {int(gap.n)}"]
    ax.scatter([gap.x], [gap.y], marker="s", s=160, facecolor="none", edgecolor=color, hatch="////", zorder=3)
    ax.annotate(
        f"missing {int(gap.n)}",
        (gap.x, gap.y),
        xytext=(0, 13),
        textcoords="offset points",
        ha="center",
        fontsize=7,
        color=MISSING_COLOR,
        fontweight="bold",
        bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.8},
    )
    return []
