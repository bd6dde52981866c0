"""The results table (docs/formats.md) rebuilt from an experiment folder alone: no Ray, local or object storage.

Each stage's newest Tune `experiment_state-*.json` (by name) gives every trial's status and last reported
result; the trial plans give what was planned, including trials Tune has not created yet. A stage grown by a
rerun has one Tune experiment per segment (experiment.segment_folder). Several experiments make one table,
rows identified by `trial_key` (collect_tables).
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from nasplatform.tune.experiment import STAGES, read_plans, read_record, segment_folder
from nasplatform.tune.plan import TrialPlan, trial_key
from nasplatform.tune.storage import Storage, StorageError

#: Scores of the evaluation's reference points (evaluation/baselines.py), same test set as the model's scores.
BASELINE_COLUMNS = (
    *(
        f"{p}_{m}"
        for p in ("identity", "mean_colour")
        for m in ("fid_a2b", "kid_a2b", "kid_a2b_std", "fid_b2a", "kid_b2a", "kid_b2a_std", "l1_a2b", "psnr_a2b")
    ),
    "true_fid_a2b",
    "true_kid_a2b",
    "true_kid_a2b_std",
    *(f"floor_{m}" for m in ("fid_a2b", "kid_a2b", "kid_a2b_std", "fid_b2a", "kid_b2a", "kid_b2a_std")),
)
GENOTYPE_COLUMNS = ("genotype_g_a", "genotype_g_b", "genotype_d_a", "genotype_d_b")
#: The results-table schema of docs/formats.md, in column order: name -> pandas dtype.
RESULT_COLUMNS: dict[str, str] = {
    **{
        name: "string"
        for name in (
            "experiment",
            "stage",
            "figure",
            "trial_id",
            "dataset",
            "scheme",
            "architecture",
            "discriminator",
            "search_trial_id",
            *GENOTYPE_COLUMNS,
        )
    },
    **{
        name: "Int64"
        for name in ("hidden_dim_a", "hidden_dim_b", "seed", "repeat", "image_size", "params_g_a", "params_g_b")
    },
    **{name: "float64" for name in ("mb_g_a", "mb_g_b")},
    **{name: "Int64" for name in ("macs_g_a", "macs_g_b", "ref_params_g_a", "ref_params_g_b")},
    **{
        name: "float64"
        for name in (
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
            "kid_a2b_std",
            "kid_b2a_std",
            *BASELINE_COLUMNS,
            "search_time_s",
            "train_time_s",
            "alpha_entropy",
        )
    },
    **{name: "Int64" for name in ("genotype_stable_since", "epochs_done", "epochs_planned")},
    **{name: "string" for name in ("status", "error", "run_dir", "versions")},
    # stable identity and provenance (docs/platform.md, "Reusing a search", "Several experiments in one table")
    **{name: "string" for name in ("trial_key", "genotype_source", "experiment_uri")},
}
#: Columns copied from a trial's last reported result when present.
RESULT_METRICS = tuple(
    c
    for c in RESULT_COLUMNS
    if c.startswith(("genotype_", "params_", "mb_", "macs_", "fid_", "kid_", "l1_", "psnr_", "alpha_entropy"))
    or c in BASELINE_COLUMNS
)
STATE_PREFIX = "experiment_state-"
#: What every trial entry of a Tune experiment state must hold for the table to be built from it.
TRIAL_KEYS = ("config", "status", "trial_id", "relative_logdir")


@dataclass
class TrialRecord:
    """One planned trial and what Tune knows of it (tune_status NOT_STARTED when Tune has no such trial yet);
    folder: the Tune experiment folder (relative to EXP) of its segment."""

    plan: TrialPlan
    folder: str = ""
    tune_status: str = "NOT_STARTED"
    trial_id: str | None = None
    trial_dir: str | None = None
    last_result: dict = field(default_factory=dict)
    num_failures: int = 0
    error: str | None = None

    @property
    def status(self) -> str:
        """ok, diverged, error, running or pending (the `status` column)."""
        if self.tune_status == "TERMINATED":
            return str(self.last_result.get("trial_status", "error"))
        return {"ERROR": "error", "RUNNING": "running"}.get(self.tune_status, "pending")


def newest_state_file(exp: Storage, stage: str) -> str | None:
    """The newest Tune experiment-state file of a stage (timestamped names sort by time), or None."""
    names = [
        n for n, is_dir in exp.list_names(stage) if not is_dir and n.startswith(STATE_PREFIX) and n.endswith(".json")
    ]
    return max(names) if names else None


def _tune_trials(exp: Storage, stage: str) -> list[tuple[dict, dict]]:
    """(trial state, runtime metadata) pairs of the newest experiment state; [] before the stage started."""
    name = newest_state_file(exp, stage)
    if name is None:
        return []
    source = f"{exp.uri}/{stage}/{name}"
    try:
        state = json.loads(exp.read_text(stage, name))
        trials = [(json.loads(a), json.loads(b)) for a, b in state["trial_data"]]
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise StorageError(f"{source}: not a readable Tune experiment state ({exc})") from None
    for index, (trial, _) in enumerate(trials):
        missing = [key for key in TRIAL_KEYS if key not in trial] if isinstance(trial, dict) else list(TRIAL_KEYS)
        if not missing and not (isinstance(trial["config"], dict) and "plan" in trial["config"]):
            missing = ["config.plan"]
        if missing:
            raise StorageError(
                f"{source}: trial entry {index} lacks {', '.join(missing)}; the file was not written "
                "by Tune for this platform (restore it, or remove it to fall back to an older one)"
            )
    return trials


def error_message(exp: Storage, stage: str, trial_dir: str) -> str:
    """The last line of the trial's error.txt (the exception and its message)."""
    if not exp.exists(stage, trial_dir, "error.txt"):
        return "failed (no error.txt)"
    lines = [line.strip() for line in exp.read_text(stage, trial_dir, "error.txt").splitlines() if line.strip()]
    return lines[-1] if lines else "failed (empty error.txt)"


def read_stage(exp: Storage, stage: str) -> list[TrialRecord]:
    """Every planned trial of a stage in plan order, with Tune's status and last result where it has them."""
    plans = read_plans(exp, stage) or []
    records = {p.key: TrialRecord(p, segment_folder(stage, p.segment)) for p in plans}
    for segment in sorted({p.segment for p in plans} | {0}):
        folder = segment_folder(stage, segment)
        for trial, runtime in _tune_trials(exp, folder):
            plan = TrialPlan.from_dict(trial["config"]["plan"])
            record = records.setdefault(plan.key, TrialRecord(plan, folder))
            record.tune_status, record.trial_id = trial["status"], trial["trial_id"]
            record.trial_dir = trial["relative_logdir"]
            record.last_result = runtime.get("last_result") or {}
            record.num_failures = int(runtime.get("num_failures") or 0)
            if record.tune_status == "ERROR":
                # only an errored state reads error.txt: one left from before a successful resume is history
                record.error = error_message(exp, folder, record.trial_dir)
    return list(records.values())


def run_dir_of(exp: Storage, record: TrialRecord) -> str | None:
    """The trial's run directory relative to the experiment folder: the engine's own (local storage) or
    its newest Tune checkpoint, which holds the same small files."""
    folder = record.folder
    if record.trial_dir is None or not exp.exists(folder, record.trial_dir):
        return None
    if record.plan.run_dir_in_trial and exp.exists(folder, record.trial_dir, "run"):
        return f"{folder}/{record.trial_dir}/run"
    checkpoints = checkpoint_names(exp, folder, record.trial_dir)
    return f"{folder}/{record.trial_dir}/{max(checkpoints)}" if checkpoints else None


def missing_folder(exp: Storage, record: TrialRecord) -> str | None:
    """A note when Tune knows the trial but its folder is no longer in the experiment folder, else None."""
    if record.trial_dir is None or exp.exists(record.folder, record.trial_dir):
        return None
    return f"trial folder {record.folder}/{record.trial_dir} is missing (moved or deleted): its files are lost"


#: Tune's file in each trial folder of every result the trial reported, one JSON object a line.
RESULT_FILE = "result.json"


def stage_folders(exp: Storage, stage: str) -> list[str]:
    """The Tune experiment folders of a stage present in EXP: the stage's own and those of its grown segments."""
    return [name for name, is_dir in exp.list_names() if is_dir and (name == stage or name.startswith(f"{stage}-"))]


def reporting_trials(exp: Storage, stage: str) -> list[tuple[str, str]]:
    """(Tune experiment folder, trial folder) of every trial of a stage that has reported a result, running ones
    included: read from the folders, before the stage's experiment state (saved every few seconds) names them."""
    return [
        (folder, name)
        for folder in stage_folders(exp, stage)
        for name, is_dir in exp.list_names(folder)
        if is_dir and exp.exists(folder, name, RESULT_FILE)
    ]


def reported_results(exp: Storage, folder: str, trial_dir: str) -> list[dict]:
    """Every result one trial reported, in order, from its result.json (Tune adds `node_ip`, `pid` and
    `trial_id` to each); the half-written last line of a running trial is left out."""
    if not exp.exists(folder, trial_dir, RESULT_FILE):
        return []
    rows = []
    for line in exp.read_text(folder, trial_dir, RESULT_FILE).splitlines():
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                break
    return rows


def checkpoint_names(exp: Storage, folder: str, trial_dir: str) -> list[str]:
    """The trial's Tune checkpoint folders (checkpoint_000000, ...), oldest first."""
    return [n for n, is_dir in exp.list_names(folder, trial_dir) if is_dir and n.startswith("checkpoint_")]


def _number(value: Any) -> Any:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def trial_row(exp: Storage, record: TrialRecord, experiment: str, figure: str, search_times: dict[str, float]) -> dict:
    """One results-table row (docs/formats.md)."""
    plan, result = record.plan, record.last_result
    search = plan.stage == "search"
    row = {
        "experiment": experiment,
        "stage": plan.stage,
        "figure": figure,
        "trial_id": record.trial_id,
        "dataset": plan.dataset,
        "scheme": plan.scheme,
        "architecture": plan.architecture,
        # the engine config of a retrain plan has always carried it; search rows retrain nothing
        "discriminator": None if search else plan.engine.get("discriminator", "patchgan"),
        "search_trial_id": record.trial_id if search else plan.search_trial_id,
        "hidden_dim_a": plan.hidden_dim_a,
        "hidden_dim_b": plan.hidden_dim_b,
        "seed": plan.seed,
        "repeat": plan.repeat,
        "image_size": plan.image_size,
        "ref_params_g_a": plan.ref_params_g_a,
        "ref_params_g_b": plan.ref_params_g_b,
        "epochs_planned": plan.epochs_planned,
    }
    row.update({name: _number(result.get(name)) for name in RESULT_METRICS})
    elapsed = _number(result.get("elapsed_s"))
    source = plan.genotype_source or {}
    row["search_time_s"] = elapsed if search else search_times.get(plan.search_key or "", source.get("search_time_s"))
    row["train_time_s"] = None if search else elapsed
    row["epochs_done"] = result.get("epochs_done", result.get("epoch", 0 if record.trial_id else None))
    gone = missing_folder(exp, record)
    row.update(
        {
            "status": record.status,
            "error": gone or record.error or (result.get("message") or None),
            "run_dir": run_dir_of(exp, record),
            "versions": result.get("versions"),
        }
    )
    row.update(
        {
            "trial_key": plan.trial_key or trial_key(experiment, plan),  # plans from before trial keys
            "genotype_source": json.dumps(source, sort_keys=True) if source else None,
            "experiment_uri": exp.uri,
        }
    )
    return row


def results_frame(rows: list[dict]) -> pd.DataFrame:
    """Rows as a DataFrame with exactly the schema's columns and dtypes (nullable integers and strings)."""
    frame = pd.DataFrame(rows, columns=list(RESULT_COLUMNS))
    return frame.astype(RESULT_COLUMNS)


def collect_table(exp: Storage) -> pd.DataFrame:
    """The whole results table of the experiment folder `exp`: one row per planned or started trial."""
    spec = read_record(exp).spec
    records = {stage: read_stage(exp, stage) for stage in STAGES}
    search_times = {r.plan.key: _number(r.last_result.get("elapsed_s")) for r in records["search"]}
    rows = [trial_row(exp, r, spec.name, spec.figure, search_times) for stage in STAGES for r in records[stage]]
    return results_frame(rows)


#: Which of two rows with one trial_key a combined table keeps: the further-along status, then the first given.
STATUS_RANK = {"ok": 0, "diverged": 1, "error": 2, "running": 3, "pending": 4}


def collect_tables(exps: list[Storage], warn: Callable[[str], None]) -> pd.DataFrame:
    """One table over several experiment folders (local and object storage mixed). A trial found twice (the same
    trial_key: an experiment given twice, or a copy of it elsewhere) keeps one row, the one furthest along
    (ok > diverged > error > running > pending; ties: the experiment given first), and `warn` says which."""
    frames = [collect_table(exp) for exp in exps]
    table = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    order = table["status"].map(STATUS_RANK).fillna(len(STATUS_RANK))
    ranked = table.assign(_rank=order, _given=range(len(table))).sort_values(["_rank", "_given"], kind="stable")
    dropped = ranked[ranked.duplicated("trial_key", keep="first")]
    for _, row in dropped.iterrows():
        kept = ranked[ranked["trial_key"] == row["trial_key"]].iloc[0]
        warn(
            f"warning: trial {row['trial_key']} appears in {kept['experiment_uri']} ({kept['status']}) and in "
            f"{row['experiment_uri']} ({row['status']}); kept the row from {kept['experiment_uri']}"
        )
    kept_rows = ranked.drop(index=dropped.index).sort_values("_given").drop(columns=["_rank", "_given"])
    return kept_rows.reset_index(drop=True).astype(RESULT_COLUMNS)


def table_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()
