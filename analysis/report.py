"""Build a report folder: paper figures, search-run figures, samples, tables, report.json and index.html."""

from __future__ import annotations

import html
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from analysis import html_page
from analysis.architecture import alpha_deviation_heatmap, alpha_heatmap, genotype_diagram, parse_genotypes
from analysis.curves import decisiveness_curve, loss_curves
from analysis.fig_hidden import hidden_dim_figure
from analysis.figures import asymmetry_figure, retrain_rows, schemes_figure, size_matched_figure
from analysis.labels import parse_label
from analysis.load import (
    AnalysisInputError,
    load_alpha_history,
    load_metrics,
    load_tables,
    provenance,
    resolve_run_dir,
)
from analysis.samples import copy_sample, latest_sample
from analysis.style import FigureFiles, FigureResult
from analysis.tables import TableFiles, write_tables

#: (figure value, builder) of the paper's figures. Any other figure value is drawn by derived_builders.
PAPER_FIGURES = (
    ("fig3", schemes_figure),
    ("fig4", hidden_dim_figure),
    ("fig5", lambda results, folder: size_matched_figure(results, folder, "fig5")),
    ("fig6", asymmetry_figure),
)


def derived_builders(rows: pd.DataFrame) -> list:
    """The figures a figure value of no paper figure gets, read from the labels of its retrain rows: C<H> and
    N<H> models get the size-matched view (Fig. 5 style), and C'<H> ones the asymmetry view (Fig. 6 style) as
    well. So an experiment with `figure: <name>` and such labels (quickstart, cpu_mini) needs no entry here."""
    prefixes = {label.prefix for label in map(parse_label, rows["architecture"]) if label is not None}
    builders = []
    if {"C", "N"} <= prefixes or {"C'", "N"} <= prefixes:
        builders.append(size_matched_figure)
    if "C'" in prefixes:
        builders.append(asymmetry_figure)
    return builders


@dataclass
class RunFigures:
    """The architecture figures of one search run, and why any are absent."""

    trial_id: str
    title: str
    figures: list[tuple[FigureFiles, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Report:
    out_dir: Path
    index: Path
    figures: list[FigureResult]
    skipped: list[str]
    runs: list[RunFigures]
    samples: list[tuple[Path, str]]
    tables: list[TableFiles]
    warnings: list[str]


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name or "run")[:80]


def _describe(row: pd.Series) -> str:
    """A short human label of a trial, e.g. 'fig3 search horse2zebra OF (trial t1)'."""
    parts = [row["figure"], row["stage"], row["dataset"], row["architecture"], row["scheme"]]
    dims = [f"{int(h)}" if pd.notna(h) else "?" for h in (row["hidden_dim_a"], row["hidden_dim_b"])]
    if dims != ["?", "?"]:
        parts.append(f"H={dims[0]}/{dims[1]}" if dims[0] != dims[1] else f"H={dims[0]}")
    if row["stage"] == "retrain" and pd.notna(row["repeat"]):
        parts.append(f"repeat {int(row['repeat'])}")
    return " ".join(str(p) for p in parts if p) + f" (trial {row['trial_id']}, experiment {row['experiment']})"


def paper_figures(results: pd.DataFrame, folder: Path) -> tuple[list[FigureResult], list[str]]:
    """The paper's figures, then those derived for every other figure value in the table (derived_builders)."""
    made, skipped = [], []
    for figure, build in tqdm(PAPER_FIGURES, desc="paper figures", file=sys.stderr):
        result = build(results, folder)
        note = f"{figure}: skipped, the table has no retrain rows with figure == {figure!r}"
        if result is None:
            if note not in skipped:
                skipped.append(note)
        else:
            made.append(result)
    undrawn = []
    for figure in sorted({f for f in results["figure"] if f and f not in dict(PAPER_FIGURES)}):
        builders = derived_builders(retrain_rows(results, figure))
        made += [result for build in builders if (result := build(results, folder, figure)) is not None]
        if not builders:
            undrawn.append(figure)
    if undrawn:
        skipped.append(f"figure values whose architectures fit no figure kind (see the tables): {', '.join(undrawn)}")
    return made, skipped


def search_run_figures(row: pd.Series, run_dir: Path | None, folder: Path, stem: str) -> RunFigures:
    """Alpha heatmaps (absolute and minus uniform), genotype diagram and loss curves of one search trial, each
    only if its input exists."""
    run = RunFigures(row["trial_id"], _describe(row))
    history = run_dir / "alpha_history.parquet" if run_dir else None
    if history and history.is_file():
        alphas = load_alpha_history(history)
        run.figures.append(
            (
                alpha_heatmap(alphas, run.title, folder, f"{stem}_alpha"),
                f"Mixing weights over the search epochs ({history.name})",
            )
        )
        run.figures.append(
            (
                alpha_deviation_heatmap(alphas, run.title, folder, f"{stem}_alpha_deviation"),
                "Deviation from uniform, softmax(alpha) − 1/K with K the candidate ops of each mixed op, "
                f"on one colour range ± max |deviation| of the run ({history.name})",
            )
        )
    else:
        run.notes.append(f"no alpha_history.parquet in {run_dir}" if run_dir else "no run_dir in the table")
    genotypes = parse_genotypes(row, f"results row of trial {row['trial_id']}")
    if genotypes:
        run.figures.append(
            (
                genotype_diagram(genotypes, run.title, folder, f"{stem}_genotype"),
                "Derived genotypes (genotype_* columns of the results table)",
            )
        )
    else:
        run.notes.append("no genotype JSON in the table's genotype_* columns")
    metrics = run_dir / "metrics.parquet" if run_dir else None
    if metrics and metrics.is_file():
        frame = load_metrics(metrics)
        run.figures.append(
            (loss_curves(frame, run.title, folder, f"{stem}_losses"), f"Losses per epoch ({metrics.name})")
        )
        entropy = decisiveness_curve(frame, run.title, folder, f"{stem}_entropy")
        if entropy is not None:
            run.figures.append(
                (
                    entropy,
                    "Mean normalised entropy of softmax(alpha) per epoch, all mixed ops and per network, the "
                    "epoch since which the genotype is final and, in a search with greedy decisions, how many "
                    f"mixed ops were decided by each epoch's end ({metrics.name})",
                )
            )
    return run


def architecture_figures(results: pd.DataFrame, runs_root: Path, folder: Path) -> tuple[list[RunFigures], list[str]]:
    searches = results[results["stage"] == "search"]
    runs, warnings = [], []
    for i, (_, row) in enumerate(tqdm(list(searches.iterrows()), desc="search runs", file=sys.stderr)):
        run_dir = resolve_run_dir(row["run_dir"], runs_root)
        try:
            runs.append(search_run_figures(row, run_dir, folder, f"{i:03d}_{_safe(row['trial_id'])}"))
        except AnalysisInputError as exc:
            # One damaged run folder should not hide the rest of the report; it is listed instead.
            warnings.append(f"search trial {row['trial_id']}: {exc}")
    return runs, warnings


def sample_links(results: pd.DataFrame, runs_root: Path, folder: Path) -> tuple[list[tuple[Path, str]], list[str]]:
    samples, without = [], []
    for i, (_, row) in enumerate(tqdm(list(results.iterrows()), desc="samples", file=sys.stderr)):
        run_dir = resolve_run_dir(row["run_dir"], runs_root)
        source = latest_sample(run_dir) if run_dir else None
        if source is None:
            without.append(row["trial_id"])
            continue
        target = copy_sample(source, folder, f"{i:03d}_{_safe(row['trial_id'])}")
        samples.append((target, f"{_describe(row)} — {source.name}"))
    notes = (
        [
            f"{len(without)} trial(s) without samples/*.png: {', '.join(map(str, without[:20]))}"
            + (" ..." if len(without) > 20 else "")
        ]
        if without
        else []
    )
    return samples, notes


def build_report(results_paths, out_dir: Path | str, runs_root: Path | str | None = None) -> Report:
    """Write the whole report of one or more results tables into `out_dir`. Rows are one per trial across the
    tables (analysis.load.load_tables drops duplicates with a warning); `run_dir` values are relative to
    `runs_root` (default: the folder holding each row's own table)."""
    paths = [Path(p) for p in ([results_paths] if isinstance(results_paths, (str, Path)) else results_paths)]
    out_dir = Path(out_dir)
    results, load_warnings = load_tables(paths, runs_root)
    for warning in load_warnings:
        print(f"warning: {warning}", file=sys.stderr)
    out_dir.mkdir(parents=True, exist_ok=True)
    figures, skipped = paper_figures(results, out_dir / "figures")
    # run_dir is absolute after load_tables; the root only matters for rows without one.
    runs, warnings = architecture_figures(results, out_dir, out_dir / "architecture")
    samples, sample_notes = sample_links(results, out_dir, out_dir / "samples")
    tables = write_tables(results, out_dir / "tables")
    report = Report(
        out_dir,
        out_dir / "index.html",
        figures,
        skipped,
        runs,
        samples,
        tables,
        load_warnings + warnings + sample_notes,
    )
    write_manifest(report, paths, results)
    report.index.write_text(index_html(report, paths, results))
    return report


def index_html(report: Report, paths: list[Path], results: pd.DataFrame) -> str:
    """First screen: which model won, by how much, how sure (results with baselines, comparisons); then figures."""
    root = report.out_dir
    runs = ["<h2>Architecture search runs</h2>"]
    if not report.runs:
        runs.append('<p class="note">The table has no search trials.</p>')
    for run in report.runs:
        runs.append(f"<h3>{html.escape(run.title)}</h3>")
        runs += [html_page.figure_block(files, caption, root) for files, caption in run.figures]
        runs += [f'<p class="note">{html.escape(n)}</p>' for n in run.notes]
    lead = {"results_with_baselines", "comparisons"}
    first = ["<h2>Results at a glance</h2>"] + [html_page.table_block(t, root) for t in report.tables if t.name in lead]
    tables = ["<h2>Summary tables</h2>"] + [html_page.table_block(t, root) for t in report.tables if t.name not in lead]
    sources = ", ".join(html.escape(str(p)) for p in paths)
    intro = (
        f'<p class="note">From {len(paths)} table(s) ({sources}): {html.escape(provenance(results))}. '
        f'<a href="report.json">report.json</a> lists every output.</p>'
    )
    return html_page.page(
        "nasplatform report",
        [
            intro,
            "\n".join(first),
            html_page.paper_figures_section(report.figures, report.skipped, root),
            "\n".join(runs),
            html_page.samples_section(report.samples, root),
            "\n".join(tables),
            html_page.list_section("Notes and warnings", report.warnings),
        ],
    )


def write_manifest(report: Report, paths: list[Path], results: pd.DataFrame) -> None:
    """report.json: what was drawn, what was skipped and what each figure lacks (for scripts and CI)."""

    def rel(path: Path) -> str:
        return Path(path).relative_to(report.out_dir).as_posix()

    data = {
        "results": [str(p) for p in paths],
        "rows": len(results),
        "trials_by_experiment": {str(k): int(v) for k, v in results["experiment"].fillna("?").value_counts().items()},
        "figures": [
            {
                "name": f.name,
                "title": f.title,
                "caption": f.caption,
                "n_missing": f.n_missing,
                "png": rel(f.files.png),
                "svg": rel(f.files.svg),
                "csv": rel(f.files.csv),
            }
            for f in report.figures
        ],
        "skipped": report.skipped,
        "search_runs": [
            {"trial_id": r.trial_id, "figures": [rel(f.png) for f, _ in r.figures], "notes": r.notes}
            for r in report.runs
        ],
        "samples": [rel(p) for p, _ in report.samples],
        "tables": [rel(t.csv) for t in report.tables] + [rel(t.markdown) for t in report.tables],
        "table_holds": {t.name: t.holds for t in report.tables},
        "warnings": report.warnings,
    }
    (report.out_dir / "report.json").write_text(json.dumps(data, indent=2))
