"""Directions (A->B uses G_A, B->A uses G_B), valid trials, and the gaps of an incomplete figure grid."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Direction:
    """One translation direction and the results-table columns that describe it."""

    name: str  # "A->B" or "B->A"
    key: str  # column suffix: a2b, b2a
    generator: str  # g_a translates A->B, g_b translates B->A

    @property
    def fid(self) -> str:
        return f"fid_{self.key}"

    @property
    def kid(self) -> str:
        return f"kid_{self.key}"

    @property
    def params(self) -> str:
        return f"params_{self.generator}"

    @property
    def ref_params(self) -> str:
        return f"ref_params_{self.generator}"

    @property
    def mb(self) -> str:
        return f"mb_{self.generator}"

    @property
    def hidden_dim(self) -> str:
        return f"hidden_dim_{self.generator[-1]}"


DIRECTIONS: tuple[Direction, ...] = (Direction("A->B", "a2b", "g_a"), Direction("B->A", "b2a", "g_b"))

#: Stand-in for a null key value (e.g. scheme of a baseline), so grid cells still group and print.
NO_VALUE = "-"


def valid_mask(rows: pd.DataFrame, direction: Direction) -> pd.Series:
    """A trial counts for a direction when it finished (`status` ok) and has that direction's FID."""
    return (rows["status"] == "ok") & rows[direction.fid].notna()


def expected_trials(rows: pd.DataFrame, keys: list[str]) -> dict[tuple, int]:
    """Trials each grid cell should hold: one per repeat index of the figure (a repeat missing everywhere still
    shows), times the searches a cell's genotypes come from. A model of searched genotypes (N, C') is retrained
    once per search (`search_trial_id`), a fixed one (C) once: so with 2 searches and 5 repeats N and C' cells
    expect 10 and C cells 5. The searches per cell are the most any cell of the figure holds, so a cell that lost
    one search's trials shows the gap; a cell with no row at all expects the most any cell expects."""
    if rows.empty:
        return {}
    repeats = int(rows["repeat"].nunique())
    searched = rows["search_trial_id"].notna() if "search_trial_id" in rows else pd.Series(False, index=rows.index)
    per_cell = rows.assign(_search=rows.get("search_trial_id"), _searched=searched).groupby(keys, dropna=False)
    searches = int(per_cell["_search"].nunique().max()) if searched.any() else 1
    expected = {
        (cell if isinstance(cell, tuple) else (cell,)): repeats * (max(searches, 1) if any_searched else 1)
        for cell, any_searched in per_cell["_searched"].any().items()
    }
    expected[None] = max(expected.values())
    return expected


def grid_gaps(rows: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """One row per (grid cell, direction) that lacks trials: n_missing = expected - valid trials,
    split into n_failed (present but not ok / no FID) and n_absent (no row at all).

    The grid is the product of the values each key takes in `rows`, so a cell with no row (e.g. one
    dataset lacking a scheme) is a gap too. `rows` must have no nulls in `keys` (use NO_VALUE).
    """
    expected_per_cell = expected_trials(rows, keys)
    levels = [sorted(rows[k].unique(), key=str) for k in keys]
    records = []
    for cell in itertools.product(*levels):
        in_cell = rows[(rows[keys] == pd.Series(cell, index=keys)).all(axis=1)]
        expected = expected_per_cell.get(tuple(cell), expected_per_cell.get(None, 0))
        for direction in DIRECTIONS:
            n_valid = int(valid_mask(in_cell, direction).sum())
            if n_valid >= expected:
                continue
            records.append(
                {
                    **dict(zip(keys, cell)),
                    "direction": direction.name,
                    "expected": expected,
                    "n_valid": n_valid,
                    "n_missing": expected - n_valid,
                    "n_failed": len(in_cell) - n_valid,
                    "n_absent": max(expected - len(in_cell), 0),
                }
            )
    columns = [*keys, "direction", "expected", "n_valid", "n_missing", "n_failed", "n_absent"]
    return pd.DataFrame.from_records(records, columns=columns)


def gap_caption(gaps: pd.DataFrame) -> str:
    """'' for a complete grid, else how many trials the figure lacks and why."""
    if gaps.empty:
        return ""
    total, failed = int(gaps["n_missing"].sum()), int(gaps["n_failed"].sum())
    absent = int(gaps["n_absent"].sum())
    return (
        f"Incomplete grid: lacks {total} trial result(s) over {len(gaps)} cell(s)/direction(s) "
        f"({failed} failed or without FID, {absent} absent)."
    )


def fill_keys(rows: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """A copy of `rows` with nulls in `keys` replaced by NO_VALUE."""
    rows = rows.copy()
    for key in keys:
        rows[key] = rows[key].where(rows[key].notna(), NO_VALUE)
    return rows
