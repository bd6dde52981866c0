"""The static index.html of a report: figures, architecture, samples and tables, relative links only."""

from __future__ import annotations

import html
import os
from pathlib import Path

from analysis.style import FigureFiles, FigureResult
from analysis.tables import TableFiles, format_cell

CSS = """
body{font-family:sans-serif;max-width:1400px;margin:1em auto;padding:0 1em;color:#222}
figure{margin:1.2em 0;border-top:1px solid #ddd;padding-top:.6em} img{max-width:100%}
.missing{color:#a00;font-weight:bold} .note{color:#555} table{border-collapse:collapse;font-size:12px}
td,th{border:1px solid #ccc;padding:2px 6px;text-align:right} td:last-child{text-align:left}
table{display:block;overflow-x:auto;max-width:100%} .samples{display:flex;flex-wrap:wrap;gap:1em}
.samples figure{width:420px;border:none}
"""


def _link(path: Path, root: Path) -> str:
    """A relative URL from the report folder, so the report still works when moved or served."""
    return html.escape(Path(os.path.relpath(path, root)).as_posix(), quote=True)


def figure_block(files: FigureFiles, caption: str, root: Path, missing: int = 0) -> str:
    cls = ' class="missing"' if missing else ""
    png, svg, csv = (_link(p, root) for p in (files.png, files.svg, files.csv))
    return (
        f'<figure><a href="{png}"><img src="{png}" alt="{html.escape(caption)}"></a>'
        f"<figcaption{cls}>{html.escape(caption)}</figcaption>"
        f'<div class="note">files: <a href="{png}">PNG</a> · <a href="{svg}">SVG</a>'
        f' · <a href="{csv}">CSV (plotted numbers)</a></div></figure>'
    )


def paper_figures_section(figures: list[FigureResult], skipped: list[str], root: Path) -> str:
    parts = ["<h2>Paper figures</h2>"]
    for fig in figures:
        parts.append(f"<h3>{html.escape(fig.title)}</h3>")
        if fig.n_missing:
            parts.append(f'<p class="missing">Incomplete: this figure lacks {fig.n_missing} trial result(s).</p>')
        parts.append(figure_block(fig.files, fig.caption, root, fig.n_missing))
    if skipped:
        items = "".join(f"<li>{html.escape(s)}</li>" for s in skipped)
        parts.append(f'<h3>Skipped figures</h3><ul class="note">{items}</ul>')
    return "\n".join(parts)


def list_section(title: str, items: list[str]) -> str:
    if not items:
        return ""
    return f"<h2>{html.escape(title)}</h2><ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in items) + "</ul>"


def samples_section(samples: list[tuple[Path, str]], root: Path) -> str:
    if not samples:
        return '<h2>Samples</h2><p class="note">No run folder holds samples/*.png.</p>'
    cells = "".join(
        f'<figure><a href="{_link(p, root)}"><img src="{_link(p, root)}" alt="{html.escape(c)}"></a>'
        f"<figcaption>{html.escape(c)}</figcaption></figure>"
        for p, c in samples
    )
    return (
        "<h2>Samples</h2><p class=\"note\">Latest translation grid of each run: rows a → b' → a'' and "
        f"b → a' → b''.</p><div class=\"samples\">{cells}</div>"
    )


def table_block(table: TableFiles, root: Path) -> str:
    """A table with what it holds, its note, and links to its CSV (full numbers) and Markdown."""
    body = (
        table.table.map(format_cell).to_html(index=False, border=0)
        if len(table.table)
        else ('<p class="note">(no rows)</p>')
    )
    note = f'<p class="note">{html.escape(table.note)}</p>' if table.note else ""
    return (
        f'<h3 id="{html.escape(table.name)}">{html.escape(table.title)}</h3>'
        f'<p class="note">{html.escape(table.holds)} <a href="{_link(table.csv, root)}">CSV</a> · '
        f'<a href="{_link(table.markdown, root)}">Markdown</a></p>{note}{body}'
    )


def page(title: str, sections: list[str]) -> str:
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>\n"
        + "\n".join(s for s in sections if s)
        + "\n</body></html>\n"
    )
