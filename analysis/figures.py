"""The paper's scatter figures: Fig. 3 (schemes), Fig. 5 and quickstart (size-matched), Fig. 6 (asymmetry)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis.grid import NO_VALUE, fill_keys, gap_caption, grid_gaps
from analysis.labels import label_color, label_order, smallest_cyclegan
from analysis.load import provenance
from analysis.scatter import ScatterSpec, draw_scatter, scatter_table
from analysis.style import SCHEME_COLORS, SIZE_LABEL_GENERATOR, FigureResult, save_figure

SCHEME_ORDER: tuple[str, ...] = ("OF", "TF", "TH", "THS")


def retrain_rows(results: pd.DataFrame, figure: str) -> pd.DataFrame:
    """The retrain trials of one figure value (the trials that carry FIDs)."""
    return results[(results["figure"] == figure) & (results["stage"] == "retrain")]


def _scatter_figure(
    rows: pd.DataFrame,
    spec: ScatterSpec,
    groups: list[str],
    colors: dict[str, str],
    name: str,
    title: str,
    folder: Path,
) -> FigureResult:
    keys = ["dataset", spec.group]
    rows = fill_keys(rows, keys)
    gaps = grid_gaps(rows, keys)
    table = scatter_table(rows, gaps, spec)
    n_missing = int(gaps["n_missing"].sum())
    holds = f"Holds {provenance(rows)}."
    full_title = title + f"\n{holds}" + (f"\nINCOMPLETE: lacks {n_missing} trial result(s)" if n_missing else "")
    datasets = sorted(rows["dataset"].unique(), key=str)
    fig = draw_scatter(table, datasets, groups, colors, spec, full_title)
    files = save_figure(fig, table, folder, name)
    caption = (
        f"{title}. Crosses: trials; dashes with bars: means with their 95% t-interval over repeats "
        f"(n per group in the CSV). {holds} {gap_caption(gaps)}"
    ).strip()
    return FigureResult(name, title, caption, files, n_missing)


def schemes_figure(results: pd.DataFrame, folder: Path) -> FigureResult | None:
    """Fig. 3: per dataset, each generator's size over the CycleGAN generator at the same H and FID
    over the mean FID of OF, for OF/TF/TH/THS; A->B uses G_A, B->A uses G_B."""
    rows = retrain_rows(results, "fig3")
    if rows.empty:
        return None
    present = sorted({s if s is not None else NO_VALUE for s in rows["scheme"]}, key=str)
    groups = [s for s in SCHEME_ORDER if s in present] + [s for s in present if s not in SCHEME_ORDER]
    spec = ScatterSpec("scheme", "OF", "row_ref", "{g} size / CycleGAN {g} at the same H (parameters)")
    title = "Fig. 3 — search schemes: generator size vs FID, normalized to CycleGAN size and mean FID of OF"
    return _scatter_figure(rows, spec, groups, SCHEME_COLORS, "fig3_schemes", title, folder)


def size_matched_figure(results: pd.DataFrame, folder: Path, figure: str = "fig5") -> FigureResult | None:
    """Fig. 5 (and the quickstart runs): C<H>/N<H> models; each panel's generator size (A->B: G_A, B->A: G_B)
    and FID normalized to the same generator and direction of the smallest plain C model present (C32 in the
    paper: "model sizes are normalized with respect to that of C32 generator"), so asymmetric N-models sit
    at different x in the two rows."""
    rows = retrain_rows(results, figure)
    if rows.empty:
        return None
    return _label_figure(
        rows,
        figure,
        "per_generator",
        SIZE_LABEL_GENERATOR,
        folder,
        f"{figure}_size_matched",
        "{fig} — size-matched CycleGAN (red) vs searched (green), per-generator size and FID normalized to {ref}",
    )


def asymmetry_figure(results: pd.DataFrame, folder: Path, figure: str = "fig6") -> FigureResult | None:
    """Fig. 6 (and cpu_mini): C64, C'64, N64: each generator's size and FID normalized to C64 (same direction)."""
    rows = retrain_rows(results, figure)
    if rows.empty:
        return None
    return _label_figure(
        rows,
        figure,
        "per_generator",
        SIZE_LABEL_GENERATOR,
        folder,
        f"{figure}_asymmetry",
        "{fig} — asymmetric generators: per-generator size and FID normalized to {ref}",
    )


def _label_figure(
    rows: pd.DataFrame, figure: str, size_mode: str, size_label: str, folder: Path, name: str, title: str
) -> FigureResult:
    labels = label_order(sorted({a if a is not None else NO_VALUE for a in rows["architecture"]}))
    reference = smallest_cyclegan(labels) or (labels[0] if labels else "-")
    spec = ScatterSpec("architecture", reference, size_mode, size_label.replace("{ref}", reference))
    colors = {label: label_color(label) for label in labels}
    pretty = {"fig5": "Fig. 5", "fig6": "Fig. 6"}.get(figure, figure)
    return _scatter_figure(rows, spec, labels, colors, name, title.format(fig=pretty, ref=reference), folder)
