"""The files that make an experiment folder self-describing: the resolved spec and each stage's trial plan (JSON).

Layout of EXP (docs/platform.md): experiment.json, plan_search.json, plan_retrain.json, search/ and retrain/
(one Tune experiment each; search-2/, retrain-2/, ... hold the trials a rerun of a grown spec added),
results.parquet, report/.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from nasplatform.engine.config import ConfigError
from nasplatform.tune.plan import TrialPlan, plans_from_json, plans_to_json
from nasplatform.tune.spec import ExperimentSpec, growth_conflicts, spec_from_dict, spec_to_dict
from nasplatform.tune.storage import Storage, StorageError

EXPERIMENT_FILE = "experiment.json"
STAGES = ("search", "retrain")
RESULTS_FILE = "results.parquet"
REPORT_DIR = "report"


def plan_file(stage: str) -> str:
    return f"plan_{stage}.json"


def segment_folder(stage: str, segment: int) -> str:
    """The Tune experiment folder of one segment of a stage: `search` for the first, `search-2`, `search-3`, ...
    for the trials added by each rerun that grew the grid (TrialPlan.segment)."""
    return stage if segment == 0 else f"{stage}-{segment + 1}"


@dataclass(frozen=True)
class ExperimentRecord:
    """What `resume` needs besides the Tune state: the resolved spec (after --set, --smoke and GPU fitting)
    and the absolute data root every trial reads its dataset folders from."""

    spec: ExperimentSpec
    data_root: str

    def to_json(self) -> str:
        return (
            json.dumps({"spec": spec_to_dict(self.spec), "data_root": self.data_root}, indent=2, sort_keys=True) + "\n"
        )

    def differences(self, other: ExperimentRecord) -> list[str]:
        """What `other` (a rerun) changes beyond adding trials: "dotted key: old -> new" per spec key, and
        data_root; [] when every trial of this record stays as it is (spec.growth_conflicts)."""
        diff = growth_conflicts(self.spec, other.spec)
        return diff + (
            [f"data_root: {self.data_root} -> {other.data_root}"] if self.data_root != other.data_root else []
        )


def read_record(exp: Storage) -> ExperimentRecord:
    if not exp.exists(EXPERIMENT_FILE):
        raise StorageError(
            f"{exp.uri}: not an experiment folder (no {EXPERIMENT_FILE}); start one with `nasplatform run SPEC`"
        )
    source = f"{exp.uri}/{EXPERIMENT_FILE}"
    try:
        data = json.loads(exp.read_text(EXPERIMENT_FILE))
    except json.JSONDecodeError as exc:
        raise StorageError(f"{source}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not {"spec", "data_root"} <= data.keys():
        raise StorageError(f"{source}: needs the keys 'spec' and 'data_root'")
    try:
        return ExperimentRecord(spec_from_dict(data["spec"], source), str(data["data_root"]))
    except ConfigError as exc:
        raise StorageError(str(exc)) from None


def write_record(exp: Storage, record: ExperimentRecord) -> None:
    exp.write_text(record.to_json(), EXPERIMENT_FILE)


def read_plans(exp: Storage, stage: str) -> list[TrialPlan] | None:
    """The stage's planned trials, or None when the stage has not been planned yet."""
    if not exp.exists(plan_file(stage)):
        return None
    try:
        return plans_from_json(json.loads(exp.read_text(plan_file(stage))))
    except (json.JSONDecodeError, TypeError) as exc:
        raise StorageError(f"{exp.uri}/{plan_file(stage)}: not a trial plan ({exc})") from None


def write_plans(exp: Storage, stage: str, plans: list[TrialPlan]) -> None:
    exp.write_text(json.dumps(plans_to_json(plans), indent=1, sort_keys=True) + "\n", plan_file(stage))
