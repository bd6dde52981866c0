"""Read and check the Parquet inputs (results table, alpha_history, metrics) against docs/formats.md."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

#: Columns of the results table written by `nasplatform collect` (docs/formats.md, "Results table").
#: Copied here on purpose: `analysis` stays independent of the `nasplatform` package.
GENOTYPE_COLUMNS: tuple[str, ...] = ("genotype_g_a", "genotype_g_b", "genotype_d_a", "genotype_d_b")
RESULTS_STRING_COLUMNS: tuple[str, ...] = (
    "experiment", "stage", "figure", "trial_id", "dataset", "scheme", "architecture", "search_trial_id",
    *GENOTYPE_COLUMNS, "status", "error", "run_dir", "versions",
)
RESULTS_INT_COLUMNS: tuple[str, ...] = (
    "hidden_dim_a", "hidden_dim_b", "seed", "repeat", "image_size", "params_g_a", "params_g_b",
    "macs_g_a", "macs_g_b", "ref_params_g_a", "ref_params_g_b", "epochs_done", "epochs_planned",
)
RESULTS_FLOAT_COLUMNS: tuple[str, ...] = (
    "mb_g_a", "mb_g_b", "fid_a2b", "fid_b2a", "kid_a2b", "kid_b2a",
    "fid_a2b_best_val", "fid_b2a_best_val", "kid_a2b_best_val", "kid_b2a_best_val",
    "l1_a2b", "psnr_a2b", "search_time_s", "train_time_s",
)
RESULTS_COLUMNS: tuple[str, ...] = RESULTS_STRING_COLUMNS + RESULTS_INT_COLUMNS + RESULTS_FLOAT_COLUMNS

#: alpha_history.parquet (long format): one row per (epoch, network, mixed op, candidate op).
ALPHA_COLUMNS: tuple[str, ...] = (
    "epoch", "network", "mixed_op", "cell", "cell_type", "position", "op", "alpha", "weight",
)
#: metrics.parquet: one row per epoch (the genotype_* columns exist for search runs only).
METRICS_COLUMNS: tuple[str, ...] = (
    "epoch", "iterations", "wall_time_s", "elapsed_s", "loss_g", "loss_adv_a2b", "loss_adv_b2a",
    "loss_cyc", "loss_idt", "loss_d_a", "loss_d_b", "lr", "status",
)
NETWORKS: tuple[str, ...] = ("g_a", "g_b", "d_a", "d_b")


class AnalysisInputError(ValueError):
    """An input file that does not match docs/formats.md; the message names the file and the column."""


def _read_parquet(path: Path, what: str) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise AnalysisInputError(f"{path}: {what} not found")
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a damaged or non-Parquet file
        raise AnalysisInputError(f"{path}: not a readable Parquet file ({exc})") from exc


def _require_columns(frame: pd.DataFrame, columns: tuple[str, ...], path: Path) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise AnalysisInputError(f"{path}: missing column(s) {missing} (schema: docs/formats.md)")


def _as_numeric(frame: pd.DataFrame, columns: tuple[str, ...], path: Path) -> None:
    """Nullable ints arrive as Int64 or float; make every numeric column float so NaN marks 'absent'."""
    for column in columns:
        try:
            frame[column] = pd.to_numeric(frame[column], errors="raise").astype("float64")
        except (ValueError, TypeError) as exc:
            raise AnalysisInputError(f"{path}: column {column!r} must be numeric ({exc})") from exc


def _as_text(frame: pd.DataFrame, columns: tuple[str, ...]) -> None:
    """Strings as Python objects with None for null, whatever dtype pandas picked."""
    for column in columns:
        frame[column] = frame[column].astype(object).where(frame[column].notna(), None)


def load_results(path: Path | str) -> pd.DataFrame:
    """The results table, every documented column present; numeric columns as float64 (NaN = null)."""
    path = Path(path)
    frame = _read_parquet(path, "results table").copy()
    _require_columns(frame, RESULTS_COLUMNS, path)
    _as_numeric(frame, RESULTS_INT_COLUMNS + RESULTS_FLOAT_COLUMNS, path)
    _as_text(frame, RESULTS_STRING_COLUMNS)
    bad_stage = sorted({s for s in frame["stage"] if s not in ("search", "retrain")}, key=str)
    if bad_stage:
        raise AnalysisInputError(f"{path}: column 'stage' holds {bad_stage}; expected 'search' or 'retrain'")
    return frame.reset_index(drop=True)


def load_alpha_history(path: Path | str) -> pd.DataFrame:
    """alpha_history.parquet with its documented columns; `network` restricted to g_a, g_b, d_a, d_b."""
    path = Path(path)
    frame = _read_parquet(path, "alpha history").copy()
    _require_columns(frame, ALPHA_COLUMNS, path)
    _as_numeric(frame, ("epoch", "cell", "position", "alpha", "weight"), path)
    _as_text(frame, ("network", "mixed_op", "cell_type", "op"))
    unknown = sorted({n for n in frame["network"] if n not in NETWORKS}, key=str)
    if unknown:
        raise AnalysisInputError(f"{path}: column 'network' holds {unknown}; expected one of {list(NETWORKS)}")
    return frame


def load_metrics(path: Path | str) -> pd.DataFrame:
    """metrics.parquet with its documented per-epoch columns."""
    path = Path(path)
    frame = _read_parquet(path, "metrics").copy()
    _require_columns(frame, METRICS_COLUMNS, path)
    numeric = tuple(c for c in METRICS_COLUMNS if c != "status")
    _as_numeric(frame, numeric, path)
    return frame


def resolve_run_dir(run_dir: str | None, runs_root: Path) -> Path | None:
    """The run folder of a row: `run_dir` is relative to `runs_root` unless it is absolute."""
    if not run_dir:
        return None
    path = Path(run_dir)
    return path if path.is_absolute() else Path(runs_root) / path
