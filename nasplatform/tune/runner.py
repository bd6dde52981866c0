"""The experiment driver: joins or starts Ray, runs each stage as its own Tune experiment, writes the results.

Stages: search (one trial per dataset x scheme x seed) -> size matching in the driver, from the searches'
genotypes (and those reused from another experiment or files) -> retrain+evaluate (one trial per run). The
experiment folder holds the resolved spec and each stage's plan, so running the same spec again, or `resume`,
continues where it stopped; running a spec that only adds trials runs just those, in a new Tune experiment
per stage (a segment), and keeps every trial planned before as it is.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import ray
from ray import tune

from nasplatform.data import DEMO_NAME, DataError, build_demo, describe_root, list_images
from nasplatform.engine.lock import folder_lock
from nasplatform.tune.collect import TrialRecord, collect_table, read_stage, table_bytes
from nasplatform.tune.experiment import (
    EXPERIMENT_FILE,
    REPORT_DIR,
    RESULTS_FILE,
    STAGES,
    ExperimentRecord,
    read_plans,
    read_record,
    segment_folder,
    write_plans,
    write_record,
)
from nasplatform.tune.plan import SearchOutcome, TrialPlan, retrain_plans, search_plans
from nasplatform.tune.sources import own_searches, resolve_source, reused_searches
from nasplatform.tune.spec import ExperimentSpec
from nasplatform.tune.storage import Storage, open_storage
from nasplatform.tune.trainables import TRAINABLES, trial_dirname, trial_name
from nasplatform.tune.trust import StateRecorder, check_stage, record_stage

#: Seconds between saves of Tune's experiment state (Tune's own default adapts upwards from 10 s). Every
#: epoch's checkpoint is in the saved state soon after it is written, so killing the driver loses at most
#: the epoch in flight. Read by Tune from the environment when a stage starts; a user's value wins.
STATE_SAVE_PERIOD_S = "2"
#: Tune checkpoints kept per trial. Tune also forces a state save every this many checkpoints, so the
#: checkpoint a saved state points at has not been deleted yet.
CHECKPOINTS_KEPT = 2
SPLIT_FOLDERS = ("trainA", "trainB", "testA", "testB")
#: Side of the demo images built when a spec uses photo2winter and it is not there yet.
DEMO_IMAGE_SIZE = 64

Log = Callable[[str], None]


class ExperimentError(RuntimeError):
    """A run that cannot start or continue as asked; the message says why and what to do."""


@dataclass(frozen=True)
class RunOptions:
    """Command-line choices of `nasplatform run`: storage folder or URI, data root (None: the spec's),
    Ray address (None: start a local Ray), --smoke, Tune's verbosity (0-3), --storage-is-shared (a local
    storage folder every node mounts at the same path) and --autoscaling (do not hold the spec's CPUs and
    GPUs against the nodes up now)."""

    storage: str = "runs"
    data_root: str | None = None
    address: str | None = None
    smoke: bool = False
    verbose: int = 1
    storage_is_shared: bool = False
    autoscaling: bool = False


@dataclass
class ExperimentOutcome:
    """Where the experiment is and how its trials ended."""

    exp: Storage
    stages: dict[str, list[TrialRecord]] = field(default_factory=dict)
    stopped: str = ""
    results: str | None = None
    report: str | None = None

    @property
    def all_finished(self) -> bool:
        return not self.stopped and all(r.status in ("ok", "diverged") for rs in self.stages.values() for r in rs)


# ---------------------------------------------------------------- Ray and the cluster's resources


@contextlib.contextmanager
def ray_connection(address: str | None) -> Iterator[None]:
    """Join the cluster at `address` ("auto": the one running here) or start a local Ray; a Ray already
    initialised in this process (a test session, a notebook) is used as it is and left running."""
    if ray.is_initialized():
        yield
        return
    try:
        ray.init(address=address) if address else ray.init(include_dashboard=False)
    except ConnectionError as exc:
        raise ExperimentError(
            f"cannot join a Ray cluster at {address!r} ({exc}); start one with `ray start --head` "
            "or leave out --address to start a local Ray"
        ) from None
    try:
        yield
    finally:
        ray.shutdown()


def _stage_resources(spec: ExperimentSpec) -> dict[str, tuple[float, float]]:
    """(CPUs, GPUs) per trial of each stage the spec runs."""
    stages = {}
    if spec.search.schemes:
        stages["search"] = (spec.search_resources.cpus, spec.search_resources.gpus)
    if spec.retrain.architectures:
        stages["retrain"] = (spec.retrain_resources.cpus, spec.retrain_resources.gpus)
    return stages


def without_gpus(spec: ExperimentSpec) -> ExperimentSpec:
    def no_gpu(res):
        return dataclasses.replace(res, gpus=0.0 if res.gpus is not None else None)

    return dataclasses.replace(
        spec,
        resources=dataclasses.replace(spec.resources, gpus=0.0),
        search=dataclasses.replace(spec.search, resources=no_gpu(spec.search.resources)),
        retrain=dataclasses.replace(spec.retrain, resources=no_gpu(spec.retrain.resources)),
    )


def fit_to_cluster(spec: ExperimentSpec, smoke: bool, log: Log, autoscaling: bool = False) -> ExperimentSpec:
    """Refuse at once what Tune would wait for forever: GPUs on a cluster without any (--smoke drops them
    instead, and says so), or more CPUs per trial than the whole cluster has. Under `autoscaling` nothing is
    checked: Ray 2.60 does not tell a driver which nodes its autoscaler may add, so the user vouches for them."""
    if autoscaling:
        log(
            "--autoscaling: the spec's CPUs and GPUs are not checked against the nodes up now; trials wait until "
            "the autoscaler adds nodes that fit them (`ray status` shows pending and infeasible demands)"
        )
        return spec
    cluster = ray.cluster_resources()
    cpus, gpus = cluster.get("CPU", 0.0), cluster.get("GPU", 0.0)
    spec = fit_gpus(spec, cpus, gpus, smoke, log)
    check_cpus(spec, cpus)
    return spec


def fit_gpus(spec: ExperimentSpec, cpus: float, gpus: float, smoke: bool, log: Log) -> ExperimentSpec:
    """The spec, or (under --smoke) the spec without GPU requests when the cluster has no GPU; refused otherwise."""
    wanted = _stage_resources(spec)
    if gpus > 0 or not any(g > 0 for _, g in wanted.values()):
        return spec
    asks = ", ".join(f"{g:g} GPU per {stage} trial" for stage, (_, g) in wanted.items() if g > 0)
    if not smoke:
        raise ExperimentError(
            f"the spec asks for {asks}, but the Ray cluster has no GPU ({cpus:g} CPUs, 0 GPUs) and Tune would "
            "wait for one forever. Run it on a cluster with GPUs (--address), run it on CPUs with "
            "--set resources.gpus=0, or dry-run it with --smoke; if the cluster autoscales and its GPU workers "
            "are not up yet, pass --autoscaling"
        )
    log(f"--smoke: the cluster has no GPU; dropping the spec's GPU requests ({asks}): trials run on CPUs")
    return without_gpus(spec)


def check_cpus(spec: ExperimentSpec, cpus: float) -> None:
    """Refuse a trial that asks for more CPUs than the whole cluster has (Tune would wait forever)."""
    for stage, (c, _) in _stage_resources(spec).items():
        if c > cpus:
            raise ExperimentError(
                f"a {stage} trial asks for {c:g} CPUs but the Ray cluster has {cpus:g} in all; "
                f"lower resources.cpus (--set resources.cpus={max(int(cpus), 1)}), or pass "
                "--autoscaling if the cluster adds bigger nodes on demand"
            )


def alive_hosts(nodes: list[dict]) -> list[str]:
    """The machines (host names) of the alive nodes in `nodes`, as ray.nodes() lists them. Nodes of one
    machine (several `ray start` there) share its disk, so the machines count, not the nodes."""
    return sorted({n.get("NodeManagerHostname") or n.get("NodeManagerAddress", "?") for n in nodes if n.get("Alive")})


def check_storage_reach(storage: Storage, given: str, nodes: list[dict], declared_shared: bool) -> None:
    """Refuse a node-local storage folder (`given`: as on the command line) on a cluster of more than one
    machine: each trial would checkpoint onto the disk of its node, and a trial retried elsewhere, or a
    resume, would not find it. Object storage, a shared file system, or --storage-is-shared pass."""
    hosts = alive_hosts(nodes)
    if len(hosts) <= 1 or declared_shared or storage.is_shared:
        return
    shown = ", ".join(hosts[:4]) + (", ..." if len(hosts) > 4 else "")
    raise ExperimentError(
        f"--storage {given} is a folder on this machine's disk ({storage.uri}), but the Ray cluster has alive "
        f"nodes on {len(hosts)} machines ({shown}): trials would checkpoint onto the disk of whichever node runs "
        "them, and a trial retried on another node, or a resume, would not find its checkpoints. Give --storage a "
        "path on a file system every node mounts at the same place (e.g. --storage /mnt/nfs/nasplatform) or an "
        "object store URI (--storage s3://BUCKET/PREFIX or gs://BUCKET/PREFIX); if this folder is such a shared "
        "mount already, pass --storage-is-shared"
    )


# ---------------------------------------------------------------- data


def prepare_data(spec: ExperimentSpec, data_root: Path, log: Log) -> None:
    """Check that every dataset folder has the CycleGAN layout; build the offline demo dataset if it is missing."""
    for dataset in spec.datasets:
        folder = data_root / dataset
        if dataset == DEMO_NAME and not folder.exists():
            log(f"building the demo dataset {folder} (offline, once)")
            build_demo(data_root, image_size=max(DEMO_IMAGE_SIZE, spec.image_size))
        empty = [s for s in SPLIT_FOLDERS if not (folder / s).is_dir() or not list_images(folder / s)]
        if empty:
            raise DataError(
                f"dataset {dataset}: {folder} lacks images in {', '.join(empty)} (the CycleGAN layout is "
                f"trainA/trainB/testA/testB); {describe_root(folder)}\nget it with `nasplatform data "
                f"download {dataset} --root {data_root}` or point --data-root at the folder holding it"
            )


# ---------------------------------------------------------------- stages


def ensure_plans(
    exp: Storage, stage: str, make: Callable[[], list[TrialPlan]], grow: bool, log: Log
) -> list[TrialPlan]:
    """The stage's saved plan; a new one when there is none, saved before any of its trials starts. Under
    `grow` (a `run` of the spec, not a `resume`), the trials `make` plans that the saved plan lacks are added
    as a new segment (their own Tune experiment); the saved trials stay exactly as they are."""
    plans = read_plans(exp, stage)
    if plans is None:
        plans = make()
        write_plans(exp, stage, plans)
        return plans
    if not grow:
        return plans
    known = {p.key for p in plans}
    added = [p for p in make() if p.key not in known]
    if not added:
        return plans
    segment = max(p.segment for p in plans) + 1
    added = [dataclasses.replace(p, segment=segment) for p in added]
    log(
        f"{stage}: the spec adds {len(added)} trial(s) to the {len(plans)} planned earlier, which are kept as "
        f"they are; the new ones run in {exp.child(segment_folder(stage, segment)).uri}"
    )
    plans = plans + added
    write_plans(exp, stage, plans)
    return plans


def stage_tuner(
    exp: Storage, stage: str, segment: int, plans: list[TrialPlan], spec: ExperimentSpec, verbose: int, log: Log
):
    """A new Tune experiment EXP/<segment folder> over the segment's plans, or the existing one restored
    (errored and interrupted trials continue from their last checkpoints; finished ones are kept) once its
    pickled state is checked against the signed digests recorded while it was written (tune/trust.py)."""
    folder = segment_folder(stage, segment)
    path = exp.child(folder).uri
    trainable = tune.with_resources(TRAINABLES[stage], {"cpu": plans[0].cpus, "gpu": plans[0].gpus})
    if tune.Tuner.can_restore(path):
        check_stage(exp, folder)
        log(f"{stage}: continuing the Tune experiment in {path}")
        tuner = tune.Tuner.restore(path, trainable, resume_errored=True)
        record_stage(exp, folder)
        return tuner
    tuner = tune.Tuner(
        trainable,
        param_space={"plan": tune.grid_search([p.to_dict() for p in plans])},
        tune_config=tune.TuneConfig(
            reuse_actors=True, trial_dirname_creator=trial_dirname, trial_name_creator=trial_name
        ),
        run_config=tune.RunConfig(
            name=folder,
            storage_path=exp.uri,
            verbose=verbose,
            failure_config=tune.FailureConfig(max_failures=spec.max_failures),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=CHECKPOINTS_KEPT),
            callbacks=[StateRecorder(exp, folder)],
        ),
    )
    record_stage(exp, folder)
    return tuner


def run_stage(
    exp: Storage, stage: str, plans: list[TrialPlan], spec: ExperimentSpec, verbose: int, log: Log
) -> list[TrialRecord]:
    """Run (or continue) one stage, segment by segment; a segment whose trials all finished is not started again."""
    if not plans:
        log(f"{stage}: no trials to run")
        return []
    records = read_stage(exp, stage)
    open_segments = sorted({r.plan.segment for r in records if r.tune_status != "TERMINATED"})
    if not open_segments:
        log(f"{stage}: all {len(records)} trial(s) finished earlier; nothing to run")
        return records
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", STATE_SAVE_PERIOD_S)
    # frequent state saves are the point (see STATE_SAVE_PERIOD_S), so Tune's warning about them is noise
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    for segment in open_segments:
        mine = [p for p in plans if p.segment == segment]
        folder = segment_folder(stage, segment)
        log(f"{stage}: {len(mine)} trial(s) in {exp.child(folder).uri}")
        tuner = stage_tuner(exp, stage, segment, mine, spec, verbose, log)  # refuses untrusted state before unpickling
        try:
            tuner.fit()
        finally:  # Tune's last state save happens as fit() ends, after the last step of its loop
            record_stage(exp, folder)
    return read_stage(exp, stage)


def continue_experiment(
    exp: Storage, record: ExperimentRecord, verbose: int, log: Log, grow: bool = False
) -> ExperimentOutcome:
    """Run every stage that is not finished, then write results.parquet (and the report, when possible).
    `grow`: plan the spec afresh and add the trials the saved plans lack (ensure_plans)."""
    spec, data_root, in_trial = record.spec, Path(record.data_root), exp.is_local
    outcome = ExperimentOutcome(exp)
    searches: list[SearchOutcome] = []
    if spec.search.schemes:
        plans = ensure_plans(exp, "search", lambda: search_plans(spec, data_root, in_trial), grow, log)
        records = outcome.stages["search"] = run_stage(exp, "search", plans, spec, verbose, log)
        unfinished = [r for r in records if r.status not in ("ok", "diverged")]
        if unfinished and spec.retrain.architectures:
            outcome.stopped = (
                f"{len(unfinished)} search trial(s) did not finish, so the retrain stage (planned from "
                f"all searches) has not started; continue with `nasplatform resume {exp.uri}`"
            )
        searches = own_searches(records, spec.name, exp.uri)
        for r in records:
            if r.status == "diverged":
                log(f"search {r.plan.key} diverged ({r.last_result.get('message')}); its genotypes are not retrained")
    if spec.retrain.architectures and not outcome.stopped:
        if read_plans(exp, "retrain") is None:
            log("retrain: size matching and planning from the searches' genotypes")

        def make():
            return retrain_plans(spec, data_root, searches + reused_searches(spec, log), in_trial)

        plans = ensure_plans(exp, "retrain", make, grow, log)
        outcome.stages["retrain"] = run_stage(exp, "retrain", plans, spec, verbose, log)
    write_results(exp, outcome, log)
    return outcome


def write_results(exp: Storage, outcome: ExperimentOutcome, log: Log) -> None:
    """EXP/results.parquet, and EXP/report/ when the analysis package is importable and the storage is local."""
    exp.write_bytes(table_bytes(collect_table(exp)), RESULTS_FILE)
    outcome.results = exp.child(RESULTS_FILE).uri
    if not exp.is_local:
        return
    try:
        from analysis.report import build_report
    except ImportError:
        return
    try:
        report = build_report(exp.local_path(RESULTS_FILE), exp.local_path(REPORT_DIR), exp.local_path())
        outcome.report = str(report.index)
    except Exception as exc:  # the report is an extra: a figure that cannot be drawn must not fail a finished run
        log(f"the report was not written ({type(exc).__name__}: {exc}); try `nasplatform report {outcome.results}`")


# ---------------------------------------------------------------- entry points


@contextlib.contextmanager
def driver_lock(exp: Storage) -> Iterator[None]:
    """One driver per experiment folder (engine/lock.py); object storage has no lock to take, so there two
    drivers are not kept apart (docs/platform.md, "One writer per folder")."""
    if not exp.is_local:
        yield
        return
    with folder_lock(exp.local_path(), "experiment driver (`nasplatform run` or `resume`)"):
        yield


def run_experiment(spec: ExperimentSpec, options: RunOptions, log: Log = print) -> ExperimentOutcome:
    """Start the experiment `spec` under options.storage, or continue it if that folder holds it already."""
    data_root = Path(options.data_root or spec.data_root).expanduser().resolve()
    storage = open_storage(options.storage)
    exp = storage.child(spec.name)
    spec = resolve_source(spec, storage)
    with driver_lock(exp), ray_connection(options.address):
        check_storage_reach(storage, options.storage, ray.nodes(), options.storage_is_shared)
        record = ExperimentRecord(fit_to_cluster(spec, options.smoke, log, options.autoscaling), str(data_root))
        if exp.exists(EXPERIMENT_FILE):
            differ = read_record(exp).differences(record)
            if differ:
                raise ExperimentError(
                    f"{exp.uri} holds experiment {spec.name} with other settings ({'; '.join(differ)}). A rerun may "
                    "only add trials (datasets, search schemes and seeds, architectures, repeats); continue it as it "
                    "was with `nasplatform resume`, or start another with --name"
                )
            log(f"continuing experiment {exp.uri}")
        prepare_data(record.spec, data_root, log)
        write_record(exp, record)
        return continue_experiment(exp, record, options.verbose, log, grow=True)


def stage_folders(exp: Storage) -> list[str]:
    """The Tune experiment folders of every stage: `<stage>` and its grown segments `<stage>-<n>`."""
    names = [name for name, is_dir in exp.list_names() if is_dir]
    return sorted(n for n in names for stage in STAGES if re.fullmatch(rf"{stage}(-\d+)?", n))


def resume_experiment(
    exp_uri: str,
    address: str | None = None,
    verbose: int = 1,
    log: Log = print,
    *,
    storage_is_shared: bool = False,
    autoscaling: bool = False,
    trust_tune_state: bool = False,
) -> ExperimentOutcome:
    """Continue the experiment in `exp_uri` from its saved spec and plans alone (the two flags as in RunOptions;
    `trust_tune_state`: accept the stages' pickled Tune state as it is, see tune/trust.py)."""
    exp = open_storage(exp_uri)
    record = read_record(exp)
    with driver_lock(exp), ray_connection(address):
        if trust_tune_state:
            for folder in stage_folders(exp):
                log(f"--trust-tune-state: accepting the Tune state in {exp.child(folder).uri} as it is")
                record_stage(exp, folder)
        check_storage_reach(exp, exp_uri, ray.nodes(), storage_is_shared)
        fit_to_cluster(record.spec, smoke=False, log=log, autoscaling=autoscaling)
        prepare_data(record.spec, Path(record.data_root), log)
        return continue_experiment(exp, record, verbose, log)
