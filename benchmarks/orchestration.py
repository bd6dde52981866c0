"""Ray Tune orchestration overhead with the platform's Tune settings (reused actors, a checkpoint every epoch).

Run: `python -m benchmarks.orchestration` (`--quick` for a smoke run). Two figures, measured in one run:
1. 8 trials of ~1 s of CPU work (4 epochs of ~0.25 s, each reported with a small checkpoint) on a 2-CPU
   local Ray vs the same work run serially in this process. Ideal wall time = serial time / 2 CPUs;
   target: Tune's wall time <= 1.5x the ideal. Also reported without the one-off start of the trial
   actors (`steady_*`: first trial start to last trial end).
2. A 100-trial grid of tiny trials: it must finish with exactly 100 result rows, read back both from Tune's
   result grid and from the experiment state through `nasplatform.tune.collect` (the reader `collect` uses).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import ray
from ray import tune

from benchmarks.harness import publish
from nasplatform.tune.collect import _tune_trials
from nasplatform.tune.runner import CHECKPOINTS_KEPT, STATE_SAVE_PERIOD_S
from nasplatform.tune.storage import open_storage

CPUS = 2
TARGET_RATIO = 1.5


def spin(n: int) -> int:
    """Pure-Python CPU work: one thread, no BLAS, so its cost does not depend on thread settings."""
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


def calibrate(seconds: float) -> int:
    """Iterations of `spin` that take about `seconds` here."""
    n = 200_000
    start = time.perf_counter()
    spin(n)
    return int(n * seconds / (time.perf_counter() - start))


def work_trainable(config: dict) -> None:
    """`epochs` epochs of `n` spin iterations each, every one reported with a checkpoint, like the platform."""
    job, started = config["job"], time.time()
    for epoch in range(1, job["epochs"] + 1):
        spin(job["n"])
        with tempfile.TemporaryDirectory() as folder:
            Path(folder, "state.txt").write_text(str(epoch))
            tune.report(
                {"epoch": epoch, "started": started, "ended": time.time()},
                checkpoint=tune.Checkpoint.from_directory(folder),
            )


def run_grid(storage: Path, name: str, configs: list[dict]) -> tuple[float, float, tune.ResultGrid]:
    """Wall seconds of tuner.fit() for one trial per config, with the runner's Tune settings, and the
    (wall-clock) time at which fit() was called."""
    tuner = tune.Tuner(
        tune.with_resources(work_trainable, {"cpu": 1}),
        param_space={"job": tune.grid_search(configs)},
        tune_config=tune.TuneConfig(reuse_actors=True),
        run_config=tune.RunConfig(
            name=name,
            storage_path=str(storage),
            verbose=0,
            checkpoint_config=tune.CheckpointConfig(num_to_keep=CHECKPOINTS_KEPT),
        ),
    )
    called, start = time.time(), time.perf_counter()
    results = tuner.fit()
    return time.perf_counter() - start, called, results


def serial_seconds(n: int, units: int) -> float:
    start = time.perf_counter()
    for _ in range(units):
        spin(n)
    return time.perf_counter() - start


def throughput(storage: Path, trials: int, trial_s: float, epochs: int) -> dict:
    """Tune vs serial; the serial work is timed before and after the grid (shared machines drift).

    `steady` leaves out the start of the two trial actors (a new process importing Ray Tune, once per
    stage): it is the orchestration cost per trial that actor reuse is meant to keep small."""
    n = calibrate(trial_s / epochs)
    before = serial_seconds(n, trials * epochs)
    tune_s, called, results = run_grid(
        storage, "throughput", [{"n": n, "epochs": epochs, "i": i} for i in range(trials)]
    )
    serial_s = (before + serial_seconds(n, trials * epochs)) / 2
    frame = results.get_dataframe()
    actor_start_s = float(frame["started"].min() - called)
    steady_s = float(frame["ended"].max() - frame["started"].min())
    ideal_s = serial_s / CPUS
    return {
        "trials": trials,
        "trial_work_s": serial_s / trials,
        "serial_s": serial_s,
        "ideal_s": ideal_s,
        "tune_s": tune_s,
        "ratio_to_ideal": tune_s / ideal_s,
        "actor_start_s": actor_start_s,
        "steady_s": steady_s,
        "steady_ratio_to_ideal": steady_s / ideal_s,
        "target_ratio": TARGET_RATIO,
        "meets_target": tune_s / ideal_s <= TARGET_RATIO,
        "steady_meets_target": steady_s / ideal_s <= TARGET_RATIO,
        "load_avg_1m": os.getloadavg()[0],
        "errors": results.num_errors,
    }


def many_trials(storage: Path, trials: int) -> dict:
    tune_s, _, results = run_grid(storage, "many", [{"n": 1000, "epochs": 1, "i": i} for i in range(trials)])
    rows = len(results.get_dataframe())
    state = _tune_trials(open_storage(storage), "many")
    terminated = sum(1 for trial, _ in state if trial["status"] == "TERMINATED")
    return {
        "trials": trials,
        "tune_s": tune_s,
        "result_rows": rows,
        "state_trials_terminated": terminated,
        "exact": rows == trials == terminated,
        "errors": results.num_errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 trials of 0.5 s and a 20-trial grid")
    args = parser.parse_args()
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", STATE_SAVE_PERIOD_S)
    root = Path(tempfile.mkdtemp(prefix="orch-", dir="/tmp"))
    ray.init(address="local", num_cpus=CPUS, include_dashboard=False, _temp_dir=str(root / "ray"), log_to_driver=False)
    try:
        figures = {
            "throughput": throughput(root / "runs", *((4, 0.5, 2) if args.quick else (8, 1.0, 4))),
            "many_trials": many_trials(root / "runs", 20 if args.quick else 100),
        }
    finally:
        ray.shutdown()
        shutil.rmtree(root, ignore_errors=True)
    publish("orchestration" + ("_quick" if args.quick else ""), figures)


if __name__ == "__main__":
    main()
