"""Read and check the Parquet inputs (results table, alpha_history, metrics) against docs/formats.md."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

#: Columns of the results table written by `nasplatform collect` (docs/formats.md, "Results table").
#: Copied here on purpose: `analysis` stays independent of the `nasplatform` package.
GENOTYPE_COLUMNS: tuple[str, ...] = ("genotype_g_a", "genotype_g_b", "genotype_d_a", "genotype_d_b")
RESULTS_STRING_COLUMNS: tuple[str, ...] = (
    "experiment",
    "stage",
    "figure",
    "trial_id",
    "dataset",
    "scheme",
    "architecture",
    "search_trial_id",
    *GENOTYPE_COLUMNS,
    "status",
    "error",
    "run_dir",
    "versions",
)
RESULTS_INT_COLUMNS: tuple[str, ...] = (
    "hidden_dim_a",
    "hidden_dim_b",
    "seed",
    "repeat",
    "image_size",
    "params_g_a",
    "params_g_b",
    "macs_g_a",
    "macs_g_b",
    "ref_params_g_a",
    "ref_params_g_b",
    "epochs_done",
    "epochs_planned",
)
RESULTS_FLOAT_COLUMNS: tuple[str, ...] = (
    "mb_g_a",
    "mb_g_b",
    "fid_a2b",
    "fid_b2a",
    "kid_a2b",
    "kid_b2a",
    "fid_a2b_best_val",
    "fid_b2a_best_val",
    "kid_a2b_best_val",
    "kid_b2a_best_val",
    "l1_a2b",
    "psnr_a2b",
    "search_time_s",
    "train_time_s",
)
RESULTS_COLUMNS: tuple[str, ...] = RESULTS_STRING_COLUMNS + RESULTS_INT_COLUMNS + RESULTS_FLOAT_COLUMNS

#: Baseline prefixes of the evaluation (docs/formats.md): the identity map (output = input) and a constant image of
#: the target domain's mean colour, scored like a model.
BASELINE_PREFIXES: tuple[str, ...] = ("identity_", "mean_colour_")
#: Columns later versions of the table added; an older table lacks them and they read as null (docs/formats.md).
OPTIONAL_STRING_COLUMNS: tuple[str, ...] = ("trial_key", "genotype_source", "discriminator", "experiment_uri")
OPTIONAL_FLOAT_COLUMNS: tuple[str, ...] = (
    "kid_a2b_std",
    "kid_b2a_std",
    *(
        f"{p}{m}"
        for p in BASELINE_PREFIXES
        for m in ("fid_a2b", "kid_a2b", "kid_a2b_std", "fid_b2a", "kid_b2a", "kid_b2a_std", "l1_a2b", "psnr_a2b")
    ),
    "true_fid_a2b",
    "true_kid_a2b",
    "true_kid_a2b_std",
    "floor_fid_a2b",
    "floor_kid_a2b",
    "floor_kid_a2b_std",
    "floor_fid_b2a",
    "floor_kid_b2a",
    "floor_kid_b2a_std",
    "alpha_entropy",
    "genotype_stable_since",
)

#: alpha_history.parquet (long format): one row per (epoch, network, mixed op, candidate op).
ALPHA_COLUMNS: tuple[str, ...] = (
    "epoch",
    "network",
    "mixed_op",
    "cell",
    "cell_type",
    "position",
    "op",
    "alpha",
    "weight",
)
#: metrics.parquet: one row per epoch (the genotype_* columns exist for search runs only).
METRICS_COLUMNS: tuple[str, ...] = (
    "epoch",
    "iterations",
    "wall_time_s",
    "elapsed_s",
    "loss_g",
    "loss_adv_a2b",
    "loss_adv_b2a",
    "loss_cyc",
    "loss_idt",
    "loss_d_a",
    "loss_d_b",
    "lr",
    "status",
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
    """The results table, every documented column present (optional ones null when an older table lacks them);
    numeric columns as float64 (NaN = null)."""
    path = Path(path)
    frame = _read_parquet(path, "results table").copy()
    _require_columns(frame, RESULTS_COLUMNS, path)
    for column in OPTIONAL_STRING_COLUMNS + OPTIONAL_FLOAT_COLUMNS:
        if column not in frame.columns:
            frame[column] = None
    _as_numeric(frame, RESULTS_INT_COLUMNS + RESULTS_FLOAT_COLUMNS + OPTIONAL_FLOAT_COLUMNS, path)
    _as_text(frame, RESULTS_STRING_COLUMNS + OPTIONAL_STRING_COLUMNS)
    bad_stage = sorted({s for s in frame["stage"] if s not in ("search", "retrain")}, key=str)
    if bad_stage:
        raise AnalysisInputError(f"{path}: column 'stage' holds {bad_stage}; expected 'search' or 'retrain'")
    return frame.reset_index(drop=True)


STATUS_RANK = {"ok": 0, "diverged": 1, "error": 2, "running": 3, "pending": 4}


def row_keys(frame: pd.DataFrame) -> pd.Series:
    """The identity of each trial across tables: `trial_key` where set, else `experiment/trial_id` (older tables)."""
    fallback = frame["experiment"].fillna("?").astype(str) + "/" + frame["trial_id"].fillna("?").astype(str)
    return frame["trial_key"].where(frame["trial_key"].notna(), fallback).astype(object)


def load_tables(paths, runs_root: Path | str | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Several results tables as one, and the warnings about duplicates dropped.

    Each row gets `source` (its table) and `row_key` (see row_keys); `run_dir` is made absolute against
    `runs_root` or, by default, the folder of its own table, so runs of different experiments resolve.
    A trial in more than one table is kept once: the finished (status ok) row if any, else the first table's.
    """
    paths = [Path(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]
    if not paths:
        raise AnalysisInputError("no results table given")
    frames = []
    for order, path in enumerate(paths):
        frame = load_results(path)
        frame["run_dir"] = [
            None if not d else str(resolve_run_dir(d, _runs_root(runs_root, uri, path)))
            for d, uri in zip(frame["run_dir"], frame["experiment_uri"])
        ]
        frames.append(frame.assign(source=str(path), _order=order))
    frame = pd.concat(frames, ignore_index=True)
    _as_text(frame, RESULTS_STRING_COLUMNS + OPTIONAL_STRING_COLUMNS + ("source",))  # concat may turn None to NaN
    frame["row_key"] = row_keys(frame)
    # N-models retrained with their searched discriminators are another model than with the official PatchGAN
    # (retrain.discriminator): they are drawn and compared as a group of their own, never pooled with it
    searched_d = frame["discriminator"] == "searched"
    frame.loc[searched_d, "architecture"] = frame.loc[searched_d, "architecture"].astype(str) + " +searched D"
    ranked = frame.assign(_rank=frame["status"].map(STATUS_RANK).fillna(len(STATUS_RANK)))
    ranked = ranked.sort_values(["_rank", "_order"], kind="stable")
    duplicate = ranked.duplicated("row_key", keep="first")
    warnings = []
    if duplicate.any():
        dropped = ranked[duplicate]
        kept = ranked[~duplicate].set_index("row_key")["source"]
        examples = ", ".join(
            f"{k} (kept from {kept[k]}, dropped from {s})"
            for k, s in zip(dropped["row_key"][:5], dropped["source"][:5])
        )
        warnings.append(
            f"{int(duplicate.sum())} duplicate trial row(s) dropped (same trial_key, or experiment/"
            f"trial_id where the table has no trial_key): {examples}" + (" ..." if duplicate.sum() > 5 else "")
        )
    frame = ranked[~duplicate].sort_index().drop(columns=["_order", "_rank"])
    return frame.reset_index(drop=True), warnings


def provenance(rows: pd.DataFrame) -> str:
    """'N trial(s) from experiment X (table), ...': what a figure or table holds, by experiment and table."""
    if rows.empty:
        return "0 trials"
    counts = rows.assign(experiment=rows["experiment"].fillna("?")).groupby(["experiment", "source"]).size()
    multi = rows["source"].nunique() > 1
    parts = [
        f"{n} from experiment {e}" + (f" ({Path(s).name} in {Path(s).parent.name or '.'})" if multi else "")
        for (e, s), n in counts.items()
    ]
    return f"{len(rows)} trial(s): " + ", ".join(parts)


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


def _runs_root(runs_root: Path | str | None, experiment_uri: str | None, table: Path) -> Path:
    """What a row's relative run_dir is relative to: --runs-root if given, else the experiment folder the row was
    collected from (`experiment_uri`, when it is a local folder here), else the folder of its table."""
    # absolute, so that run_dir stays right when the report resolves it again from its own folder
    if runs_root is not None:
        return Path(runs_root).absolute()
    if experiment_uri and "://" not in experiment_uri and Path(experiment_uri).is_dir():
        return Path(experiment_uri).absolute()
    return table.parent.absolute()


def resolve_run_dir(run_dir: str | None, runs_root: Path) -> Path | None:
    """The run folder of a row: `run_dir` is relative to `runs_root` unless it is absolute."""
    if not run_dir:
        return None
    path = Path(run_dir)
    return path if path.is_absolute() else Path(runs_root) / path
