"""Ray Tune function trainables: one search run or one retrain+evaluate run per trial, checkpointed every epoch.

The engine's run directory lives in the trial folder (local storage) or the worker's working folder (object
storage). After every epoch the small run files and checkpoints/last.pt go to Tune as a checkpoint; a trial
that starts from a Tune checkpoint first puts those files back, so the engine resumes where it stopped.
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import logging
import math
import os
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import torch
from ray import tune

import nasplatform
from nasplatform.engine.config import RetrainConfig, SearchConfig, from_dict
from nasplatform.engine.evaluate import evaluate_run, load_generators
from nasplatform.engine.loop import RunOutcome
from nasplatform.engine.retrain import run_retrain
from nasplatform.engine.rundir import RunDirectory
from nasplatform.engine.search import run_search
from nasplatform.evaluation import load_inception
from nasplatform.evaluation.baselines import flatten_baselines
from nasplatform.nets import model_cost
from nasplatform.space import NETWORK_NAMES
from nasplatform.tune.plan import SOURCE_GENOTYPES, TrialPlan

#: Written into every Tune checkpoint: the epoch it holds.
SNAPSHOT_FILE = "snapshot.json"
#: Run files (docs/formats.md) carried by every Tune checkpoint, besides the folders below and the latest sample.
SNAPSHOT_FILES = (
    "config.yaml",
    "genotypes.json",
    SOURCE_GENOTYPES,
    "metrics.parquet",
    "alpha_history.parquet",
    "splits.json",
    "evaluation.json",
)
SNAPSHOT_FOLDERS = ("checkpoints", "final")
#: The run's TensorBoard folder travels as one archive: event files in the trial's checkpoint folders would show
#: up as extra runs under `tensorboard --logdir EXP_DIR`.
TENSORBOARD_ARCHIVE = "tb.tar"
#: Reported first, so Tune's progress table (it shows the first few numeric metrics) shows these.
LEADING_METRICS = ("epoch", "loss_g", "elapsed_s", "resumed_from_epoch")


class InjectedFailure(RuntimeError):
    """The failure a stage's `fail_at_epoch` asks for: a test aid for retries and resume."""


def package_versions() -> str:
    """JSON of the versions that produced a result (nasplatform, torch, ray, clean-fid)."""
    versions = {"nasplatform": nasplatform.__version__, "torch": torch.__version__}
    for name in ("ray", "clean-fid"):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return json.dumps(versions, sort_keys=True)


# ---------------------------------------------------------------- snapshots <-> run directory


def _link_or_copy(src: Path, dst: Path) -> None:
    """Hard link when possible (the engine replaces files by rename, so a link keeps the old contents)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def write_snapshot(run: RunDirectory, into: Path, epoch: int) -> None:
    """The run files a resumed trial and the results table need, as of `epoch`, under `into`."""
    for name in SNAPSHOT_FILES:
        if (run.root / name).is_file():
            _link_or_copy(run.root / name, into / name)
    for folder in SNAPSHOT_FOLDERS:
        for path in sorted((run.root / folder).rglob("*")):
            if path.is_file() and not path.name.startswith("."):  # dot files are an engine writer's temp files
                _link_or_copy(path, into / path.relative_to(run.root))
    samples = sorted(run.samples.glob("*.png"))
    if samples:
        _link_or_copy(samples[-1], into / "samples" / samples[-1].name)
    pack_tensorboard(run, into)
    (into / SNAPSHOT_FILE).write_text(json.dumps({"epoch": epoch}))


def pack_tensorboard(run: RunDirectory, into: Path) -> None:
    """The run's tb/ folder as `into`/tb.tar (nothing when the run has none yet)."""
    if run.tensorboard.is_dir():
        with tarfile.open(into / TENSORBOARD_ARCHIVE, "w") as archive:
            archive.add(run.tensorboard, arcname=run.tensorboard.name)


def unpack_tensorboard(run_dir: Path) -> None:
    """Put a restored snapshot's tb.tar back as tb/: the events up to the checkpoint (the engine's next writer
    hides any a crashed attempt wrote later)."""
    archive_path = run_dir / TENSORBOARD_ARCHIVE
    if archive_path.is_file():
        with tarfile.open(archive_path) as archive:
            archive.extractall(run_dir, filter="data")
        archive_path.unlink()


def restore_snapshot(run_dir: Path) -> int:
    """Make `run_dir` hold exactly the trial's last Tune checkpoint (or nothing); return its epoch (0 = none).

    The saved config.yaml is dropped: the engine then records this trial's config, whose paths may differ
    from the first attempt's (another worker, another working folder) while everything else is the same.
    """
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        return 0
    with checkpoint.as_directory() as folder:
        shutil.copytree(folder, run_dir, dirs_exist_ok=True)
    (run_dir / "config.yaml").unlink(missing_ok=True)
    unpack_tensorboard(run_dir)
    return int(json.loads((run_dir / SNAPSHOT_FILE).read_text())["epoch"])


# ---------------------------------------------------------------- one trial


def trial_folder() -> Path:
    """The trial's folder in the (local) experiment storage, where every trial keeps its run/ folder.

    Not `get_trial_dir()`: that is a staging folder in Ray's session directory, and not the same one on a
    reused actor (driver_artifacts/ for an actor's first trial, working_dirs/ for the next), so trials that
    ran on a reused actor left their run/ (with the evaluation outputs) in a temporary folder.
    """
    return Path(tune.get_context().get_storage().trial_fs_path)


def _epoch_metrics(row: dict) -> dict:
    """An engine metrics row as Tune metrics: the engine's `status` becomes `epoch_status`."""
    return {("epoch_status" if k == "status" else k): v for k, v in row.items()}


class TrialSession:
    """The engine run of one trial: its run directory, the epoch it resumed at, and its reports to Tune."""

    def __init__(self, plan: TrialPlan):
        self.plan = plan
        torch.set_num_threads(max(1, int(plan.cpus)))
        # Ray logs one line per persisted checkpoint, i.e. per trial and epoch; Tune's table shows progress
        logging.getLogger("ray.train._internal.storage").setLevel(logging.WARNING)
        base = trial_folder() if plan.run_dir_in_trial else Path.cwd()
        self.run = RunDirectory(base / "run")
        self.resumed_from = restore_snapshot(self.run.root)

    def engine_settings(self) -> dict:
        """The plan's engine config; threads, unless the spec sets them, are the CPUs Tune gives the trial."""
        engine = dict(self.plan.engine)
        if engine.get("threads") is None:
            engine["threads"] = max(1, int(self.plan.cpus))
        return engine

    def report(self, metrics: dict, epoch: int, with_checkpoint: bool) -> None:
        row = {
            "epoch": epoch,
            **metrics,
            "resumed_from_epoch": self.resumed_from,
            "key": self.plan.key,
            "stage": self.plan.stage,
        }
        row = {**{k: row[k] for k in LEADING_METRICS if k in row}, **row}
        if not with_checkpoint:
            tune.report(row)
            return
        # beside the run dir, so the snapshot's hard links stay on one file system
        with tempfile.TemporaryDirectory(dir=self.run.root.parent, prefix=".snapshot-") as tmp:
            write_snapshot(self.run, Path(tmp), epoch)
            tune.report(row, checkpoint=tune.Checkpoint.from_directory(tmp))

    def on_epoch(self, row: dict, checkpoint_path: str | None) -> None:
        """The engine's epoch callback: report, then fail once if the plan asks for it (tests)."""
        self.report(_epoch_metrics(row), int(row["epoch"]), checkpoint_path is not None)
        fail = self.plan.fail_at_epoch
        if fail is not None and row["epoch"] == fail and self.resumed_from < fail:
            raise InjectedFailure(f"{self.plan.key}: injected failure after epoch {fail} (fail_at_epoch)")

    def finish(self, outcome: RunOutcome, final: dict) -> None:
        """The last report: outcome, final values for the results table, and a checkpoint holding them."""
        elapsed = next((r["elapsed_s"] for r in reversed(outcome.metrics) if "elapsed_s" in r), math.nan)
        metrics = {
            "elapsed_s": elapsed,
            "trial_status": outcome.status,
            "message": outcome.message,
            "epochs_done": outcome.epochs_done,
            "versions": package_versions(),
            **final,
        }
        self.report(metrics, outcome.epochs_done, with_checkpoint=True)


# ---------------------------------------------------------------- the trainables


def search_trainable(config: dict) -> None:
    """One architecture search (config["plan"] is a TrialPlan dict)."""
    session = TrialSession(TrialPlan.from_dict(config["plan"]))
    cfg = from_dict(SearchConfig, session.engine_settings())
    result = run_search(cfg, session.run.root, on_epoch=session.on_epoch, progress=False)
    final = {f"genotype_{name}": g.to_json() for name, g in result.genotypes.items()}
    # the decisiveness of the finished search (results-table columns alpha_entropy, genotype_stable_since)
    last_ok = next((r for r in reversed(result.outcome.metrics) if r.get("status") == "ok"), {})
    final.update({k: last_ok[k] for k in ("alpha_entropy", "genotype_stable_since") if k in last_ok})
    session.finish(result.outcome, final)


def retrain_trainable(config: dict) -> None:
    """One retraining of G_A, G_B (H_A, H_B from the plan), then its evaluation."""
    session = TrialSession(TrialPlan.from_dict(config["plan"]))
    engine = session.engine_settings()
    if session.plan.genotypes is not None:
        source = session.run.root / SOURCE_GENOTYPES
        source.write_text(json.dumps(session.plan.genotypes, indent=2, sort_keys=True))
        engine["genotypes"] = str(source)
    cfg = from_dict(RetrainConfig, engine)
    result = run_retrain(cfg, session.run.root, on_epoch=session.on_epoch, progress=False)
    final = used_genotypes(session.run, cfg)
    if result.outcome.status == "ok":
        final.update(evaluation_metrics(session, cfg))
    session.finish(result.outcome, final)


def used_genotypes(run: RunDirectory, cfg: RetrainConfig) -> dict:
    """The genotype JSON per network the run trained; discriminators only when they are searched ones."""
    data = run.read_json(run.genotypes)
    names = NETWORK_NAMES if cfg.discriminator == "searched" else NETWORK_NAMES[:2]
    return {f"genotype_{n}": json.dumps(data[n], sort_keys=True) for n in names if n in data}


@functools.lru_cache(maxsize=2)
def cached_extractor(device: str):
    """One Inception network per worker process and device: reused actors skip reloading it."""
    return load_inception(device)


def evaluation_metrics(session: TrialSession, cfg: RetrainConfig) -> dict[str, Any]:
    """FID/KID both directions (final, best_val), paired error and sizes; evaluation.json is reused if present."""
    run = session.run
    if not session.plan.evaluate["enabled"]:
        return size_metrics(run, cfg)
    if run.evaluation.is_file():
        report = run.read_json(run.evaluation)
    else:
        report = evaluate_run(
            run.root,
            extractor=cached_extractor(cfg.device),
            cache_dir=session.plan.evaluate["cache_dir"],
            device=cfg.device,
            progress=False,
        )
    metrics = {k: v for k, v in report["final"].items()}
    metrics.update(flatten_baselines(report.get("baselines") or {}))
    metrics.update(
        {f"{k}_best_val": v for k, v in (report.get("best_val") or {}).items() if not k.startswith("epoch_")}
    )
    for name in ("g_a", "g_b"):
        metrics.update({f"{key}_{name}": report[name][key] for key in ("params", "mb", "macs", "inference_ms")})
    return metrics


def size_metrics(run: RunDirectory, cfg: RetrainConfig) -> dict[str, Any]:
    """Parameters, MB and MACs of the final generators, for runs that are not evaluated."""
    metrics = {}
    for name, net in zip(("g_a", "g_b"), load_generators(run, "final", cfg.device)):
        cost = model_cost(net, cfg.data.crop_size)
        metrics.update({f"params_{name}": cost.params, f"mb_{name}": cost.mb, f"macs_{name}": cost.macs})
    return metrics


TRAINABLES = {"search": search_trainable, "retrain": retrain_trainable}


def trial_dirname(trial) -> str:
    """Trial folders are named `<trial id>_<plan key>` so a person can find a run by dataset and label."""
    return f"{trial.trial_id}_{TrialPlan.from_dict(trial.config['plan']).dirname}"


def trial_name(trial) -> str:
    return f"{TrialPlan.from_dict(trial.config['plan']).key} ({trial.trial_id})"
