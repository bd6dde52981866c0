"""Training curves of one run from its metrics.parquet: generator and discriminator losses per epoch."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.ticker import MaxNLocator

from analysis.style import CYCLEGAN_RED, MISSING_COLOR, FigureFiles, new_figure, save_figure, suptitle

GENERATOR_LOSSES = ("loss_g", "loss_adv_a2b", "loss_adv_b2a", "loss_cyc", "loss_idt")
DISCRIMINATOR_LOSSES = ("loss_d_a", "loss_d_b")


def loss_curves(metrics: pd.DataFrame, title: str, folder: Path, stem: str) -> FigureFiles:
    """Left: L and its parts (L_adv per direction, L_cyc, L_idt, before the lambdas); right: D_A, D_B
    losses. Epochs whose status is not ok are shaded."""
    metrics = metrics.sort_values("epoch")
    fig, axes = new_figure(1, 2, panel_w=5.0, panel_h=3.2)
    for ax, columns, name in (
        (axes[0][0], GENERATOR_LOSSES, "generator losses"),
        (axes[0][1], DISCRIMINATOR_LOSSES, "discriminator losses"),
    ):
        for column in columns:
            ax.plot(metrics["epoch"], metrics[column], "-", marker="." if len(metrics) < 30 else None, label=column)
        for epoch in metrics.loc[metrics["status"] != "ok", "epoch"]:
            ax.axvspan(epoch - 0.5, epoch + 0.5, color=CYCLEGAN_RED, alpha=0.15, hatch="//", lw=0)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("mean loss per epoch", fontsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    bad = int((metrics["status"] != "ok").sum())
    note = f" — {bad} epoch(s) not ok (shaded)" if bad else ""
    suptitle(fig, title + note, color=MISSING_COLOR if bad else "black")
    table = metrics[["epoch", "status", *GENERATOR_LOSSES, *DISCRIMINATOR_LOSSES]]
    return save_figure(fig, table, folder, stem)


ENTROPY_COLUMNS = ("alpha_entropy", "alpha_entropy_g_a", "alpha_entropy_g_b", "alpha_entropy_d_a", "alpha_entropy_d_b")


def decisiveness_curve(metrics: pd.DataFrame, title: str, folder: Path, stem: str) -> FigureFiles | None:
    """Mean normalised entropy of softmax(alpha) per epoch (all mixed ops, and per network; 1 = uniform,
    0 = one-hot), with the final genotype's `genotype_stable_since` epoch marked. None for runs recorded
    before these columns existed."""
    if "alpha_entropy" not in metrics:
        return None
    metrics = metrics[metrics["status"] == "ok"].sort_values("epoch")
    columns = [c for c in ENTROPY_COLUMNS if c in metrics]
    fig, axes = new_figure(1, 1, panel_w=5.0, panel_h=3.2)
    ax = axes[0][0]
    for column in columns:
        ax.plot(
            metrics["epoch"],
            metrics[column],
            "-",
            lw=2.0 if column == "alpha_entropy" else 1.0,
            marker="." if len(metrics) < 30 else None,
            label=column.replace("alpha_entropy_", "") or column,
        )
    since = metrics["genotype_stable_since"].iloc[-1] if "genotype_stable_since" in metrics and len(metrics) else None
    if since is not None and pd.notna(since):
        ax.axvline(float(since), color=CYCLEGAN_RED, ls="--", lw=1, label=f"genotype stable since {int(since)}")
    decided = "decided_ops" in metrics and metrics["decided_ops"].fillna(0).max() > 0
    handles, labels = ax.get_legend_handles_labels()
    if decided:  # greedy decisions (SearchConfig.decide_*): how many mixed ops were fixed by each epoch's end
        right = ax.twinx()
        (line,) = right.step(metrics["epoch"], metrics["decided_ops"], where="post", color="grey", ls=":", lw=1.5)
        right.set_ylim(0, None)
        right.set_ylabel("mixed ops decided", fontsize=8)
        right.yaxis.set_major_locator(MaxNLocator(integer=True))
        handles, labels = [*handles, line], [*labels, "mixed ops decided (right axis)"]
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("epoch", fontsize=8)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("mean normalised alpha entropy", fontsize=8)
    ax.grid(alpha=0.3)
    ax.legend(handles, labels, fontsize=7, loc="lower left")
    suptitle(fig, title + " — how decided the search is (1 = uniform mixing)")
    table_columns = (
        ["epoch", *columns]
        + (["genotype_stable_since"] if "genotype_stable_since" in metrics else [])
        + (["decided_ops"] if decided else [])
    )
    return save_figure(fig, metrics[table_columns], folder, stem)
