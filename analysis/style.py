"""Shared look of every figure (Agg backend, the paper's colors, axis labels) and writing PNG + SVG + CSV."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: report builds run on cluster nodes and in CI without a display
# SVG element ids from a fixed salt and no date: a report rebuilt from the same table is the same files
matplotlib.rcParams["svg.hashsalt"] = "nasplatform"

import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

#: Entries per row of a figure's legend below its panels: more rows, not a row wider than the figure.
LEGEND_COLUMNS = 5
#: The paper's colors: red = CycleGAN (C-models), green = CycleGANAS outcomes (N-models, "searched").
CYCLEGAN_RED = "#d62728"
SCALED_CYCLEGAN_RED = "#8c1c13"  # C'<H>: CycleGAN with per-generator H, a darker red of the same family
SEARCHED_GREEN = "#2ca02c"
#: Fig. 3 compares four searched schemes; OF (the default CycleGANAS) keeps the searched green.
SCHEME_COLORS: dict[str, str] = {"OF": SEARCHED_GREEN, "TF": "#1f77b4", "TH": "#9467bd", "THS": "#ff7f0e"}
OTHER_COLOR = "#7f7f7f"
MISSING_COLOR = "#555555"

DIRECTION_LABEL = {"A->B": "A→B (G_A)", "B->A": "B→A (G_B)"}
#: `{g}` is the panel's generator (G_A in the A->B row, G_B in the B->A row), `{ref}` the reference model.
SIZE_LABEL_GENERATOR = "{g} size / {ref}'s {g} size (parameters)"
FID_NORM_LABEL = "FID / reference mean FID"
FID_LABEL = "FID (lower is better)"
HIDDEN_LABEL = "hidden dimension H"


@dataclass(frozen=True)
class FigureFiles:
    """The files of one saved figure; `csv` holds exactly the numbers it plots."""

    png: Path
    svg: Path
    csv: Path


def new_figure(n_rows: int, n_cols: int, panel_w: float = 3.6, panel_h: float = 3.0) -> tuple[Figure, list[list]]:
    """A figure of n_rows x n_cols panels without pyplot's global state (safe in long-lived processes)."""
    fig = Figure(figsize=(max(panel_w * n_cols, 7.0), panel_h * n_rows + 1.2), layout="constrained")
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    return fig, [list(row) for row in axes]


def suptitle(fig: Figure, text: str, **kwargs) -> None:
    """A figure title wrapped to the figure's width, so long titles of narrow figures are not clipped."""
    chars = max(40, int(fig.get_figwidth() * 11))
    wrapped = "\n".join(textwrap.fill(line, chars) for line in text.split("\n"))
    fig.suptitle(wrapped, fontsize=10, **kwargs)


def save_figure(fig: Figure, table: pd.DataFrame, folder: Path, stem: str) -> FigureFiles:
    """Write `stem`.png, `stem`.svg and `stem`.csv (the plotted numbers) into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    files = FigureFiles(folder / f"{stem}.png", folder / f"{stem}.svg", folder / f"{stem}.csv")
    fig.savefig(files.png, dpi=110)
    fig.savefig(files.svg, metadata={"Date": None})
    table.to_csv(files.csv, index=False)
    return files


@dataclass(frozen=True)
class FigureResult:
    """A figure as the report shows it: where its files are, its caption, and how many trials it lacks."""

    name: str
    title: str
    caption: str
    files: FigureFiles
    n_missing: int = 0
