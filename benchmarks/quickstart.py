"""End-to-end timing of the quickstart (`nasplatform run experiments/quickstart.yaml`): wall seconds per stage.

Run: `python -m benchmarks.quickstart` (`--quick`: the spec's `--smoke` dry-run instead). The experiment runs in a
fresh temporary folder (demo data built there, runs stored there), exactly as a newcomer's first run would, through
the real CLI in a subprocess. Stages are cut at the runner's own log lines, timestamped as they arrive:
startup (imports, Ray start) -> data (demo dataset build) -> search -> size matching and planning ->
retrain+evaluate (and the results table and report) -> shutdown. Trial-level training seconds come from the
experiment's results.parquet. Target (issue 5, the main job): the whole quickstart in under 15 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.harness import publish
from benchmarks.iteration import command_line

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "experiments" / "quickstart.yaml"
TARGET_MINUTES = 15.0

#: Log lines of `nasplatform run` that open each stage, in order (nasplatform/tune/runner.py).
MARKERS = (
    ("data", re.compile(r"building the demo dataset")),
    ("search", re.compile(r"^search: \d+ trial\(s\) in ")),
    ("planning", re.compile(r"^retrain: size matching")),
    ("retrain_evaluate", re.compile(r"^retrain: \d+ trial\(s\) in ")),
    ("shutdown", re.compile(r"^results: ")),
)


def timed_lines(cmd: list[str], cwd: Path) -> tuple[int, list[tuple[float, str]], float]:
    """Run `cmd`, echo its output to stderr and return (exit status, [(seconds since start, line)], total seconds)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # lines must arrive when printed, or the timestamps lie
    start = time.perf_counter()
    lines = []
    with subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        for line in proc.stdout:
            lines.append((time.perf_counter() - start, line.rstrip("\n")))
            print(line, end="", file=sys.stderr)
        status = proc.wait()
    return status, lines, time.perf_counter() - start


def stage_seconds(lines: list[tuple[float, str]], total: float) -> tuple[dict[str, float], list[str]]:
    """Seconds of each stage between consecutive markers; the stages whose marker never appeared are listed."""
    found: dict[str, float] = {}
    for name, pattern in MARKERS:
        hit = next((t for t, text in lines if pattern.search(text)), None)
        if hit is not None:
            found[name] = hit
    bounds = [("startup", 0.0)] + sorted(found.items(), key=lambda kv: kv[1]) + [("end", total)]
    stages = {name: round(bounds[i + 1][1] - t, 2) for i, (name, t) in enumerate(bounds[:-1])}
    return stages, [name for name, _ in MARKERS if name not in found]


def trial_seconds(storage: Path) -> dict:
    """Mean search and retrain seconds inside the trials, from the experiment's results.parquet."""
    import pandas as pd

    tables = list(storage.rglob("results.parquet"))
    if not tables:
        return {}
    table = pd.read_parquet(tables[0])
    out = {}
    for stage in ("search", "retrain"):
        rows = table[table["stage"] == stage] if "stage" in table else table.iloc[0:0]
        column = "search_time_s" if stage == "search" else "train_time_s"
        if len(rows) and column in rows:
            out[f"{stage}_trials"] = int(len(rows))
            out[f"{stage}_trial_mean_s"] = round(float(rows[column].mean()), 2)
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the --smoke dry-run of the quickstart spec")
    parser.add_argument("--spec", type=Path, default=SPEC, help="experiment spec (default experiments/quickstart.yaml)")
    args = parser.parse_args(argv)
    if not args.spec.is_file():
        raise SystemExit(f"{args.spec}: no such experiment spec")
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-quickstart-") as tmp:
        cmd = [
            sys.executable,
            "-m",
            "nasplatform",
            "run",
            str(args.spec),
            "--storage",
            str(Path(tmp) / "runs"),
            "--data-root",
            str(Path(tmp) / "data"),
            "--verbose",
            "0",
        ] + (["--smoke"] if args.quick else [])
        status, lines, total = timed_lines(cmd, ROOT)
        if status != 0:
            tail = "\n".join(text for _, text in lines[-15:])
            raise SystemExit(f"`{' '.join(cmd[1:])}` exited with status {status}:\n{tail}")
        stages, missing = stage_seconds(lines, total)
        trials = trial_seconds(Path(tmp) / "runs")
    figures = {
        "command": command_line("quickstart", argv),
        "run_command": f"nasplatform run {args.spec.relative_to(ROOT) if args.spec.is_relative_to(ROOT) else args.spec}"
        + (" --smoke" if args.quick else ""),
        "load_avg_1min": {"before": round(load_before[0], 2), "after": round(os.getloadavg()[0], 2)},
        "total_s": round(total, 1),
        "stages_s": stages,
        "missing_stage_markers": missing,
        "trials": trials,
        "targets": {} if args.quick else {f"quickstart<{TARGET_MINUTES:g}min": total < 60 * TARGET_MINUTES},
    }
    return publish("quickstart_quick" if args.quick else "quickstart", figures)


if __name__ == "__main__":
    main()
