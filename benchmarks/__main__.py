"""`python -m benchmarks` (`make bench`): every benchmark module in its own process, then PERFORMANCE.md refreshed.

Each module `benchmarks/<name>.py` prints its figures as one JSON object on its last stdout line and writes
`benchmarks/results/<name>.json`; this runner checks that line and rewrites the generated block of PERFORMANCE.md
(between the two marker comments) from every non-quick result file, leaving the hand-written text around it alone.
A separate process per benchmark keeps one benchmark's allocator state, threads and warm caches out of the next.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.harness import RESULTS_DIR

ROOT = Path(__file__).resolve().parent.parent
PERFORMANCE = ROOT / "PERFORMANCE.md"
BEGIN, END = "<!-- figures:begin (python -m benchmarks writes this block) -->", "<!-- figures:end -->"
#: Modules of this package that are not benchmarks to run on their own (projection needs a GPU result file).
SUPPORT_MODULES = ("__init__", "__main__", "harness", "projection")


def discover() -> list[str]:
    """Every benchmark module of the package, in name order."""
    here = Path(__file__).resolve().parent
    return sorted(p.stem for p in here.glob("*.py") if p.stem not in SUPPORT_MODULES)


def last_json_line(stdout: str) -> dict:
    """The one JSON object a benchmark prints on its last line; ValueError when it is not there."""
    lines = [line for line in stdout.strip().splitlines() if line.strip()]
    if not lines:
        raise ValueError("printed nothing on stdout")
    try:
        figures = json.loads(lines[-1])
    except json.JSONDecodeError as exc:
        raise ValueError(f"last stdout line is not JSON ({exc}): {lines[-1][:200]!r}") from None
    if not isinstance(figures, dict):
        raise ValueError(f"last stdout line is JSON but not an object: {lines[-1][:200]!r}")
    return figures


def run_module(name: str, extra: list[str], timeout: float | None) -> dict:
    """Run `python -m benchmarks.<name> *extra`; stderr (progress bars) goes to the terminal."""
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", f"benchmarks.{name}", *extra],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {
            "name": name,
            "ok": False,
            "seconds": time.perf_counter() - start,
            "error": f"timed out after {timeout} s",
        }
    outcome = {"name": name, "seconds": round(time.perf_counter() - start, 1), "returncode": proc.returncode}
    if proc.returncode != 0:
        return {**outcome, "ok": False, "error": f"exit status {proc.returncode}"}
    try:
        figures = last_json_line(proc.stdout)
    except ValueError as exc:
        return {**outcome, "ok": False, "error": str(exc)}
    return {**outcome, "ok": True, "benchmark": figures.get("benchmark", name)}


# ---------------------------------------------------------------- PERFORMANCE.md


def _flatten(figures: dict, prefix: str = "") -> list[tuple[str, object]]:
    rows: list[tuple[str, object]] = []
    for key, value in figures.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            rows += _flatten(value, f"{path}.")
        else:
            rows.append((path, value))
    return rows


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return f"({len(value)} rows, below)"
    return str(value).replace("|", "\\|")


def _table(rows: list[dict]) -> list[str]:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return lines + ["| " + " | ".join(_cell(row.get(c, "")) for c in columns) + " |" for row in rows]


def render_result(figures: dict) -> list[str]:
    """One result file as Markdown: machine, date, command, targets, then every figure."""
    name = figures.get("benchmark", "?")
    machine = figures.get("machine", {})
    command = figures.get("command", f"python -m benchmarks.{name}")
    lines = [
        f"### {name}",
        "",
        f"- machine: {machine.get('platform', '?')}, {machine.get('cpus', '?')} CPUs, "
        f"torch {machine.get('torch', '?')}, "
        f"{machine.get('torch_threads', '?')} torch thread(s)",
        f"- date: {machine.get('date', '?')}",
        f"- command: `{command}`",
    ]
    if "load_avg_1min" in figures:
        load = figures["load_avg_1min"]
        lines.append(f"- load average (1 min) before / after: {load.get('before')} / {load.get('after')}")
    targets = figures.get("targets") or {}
    if targets:
        lines += ["", "| target | met |", "|---|---|"] + [
            f"| {k} | {'yes' if v else '**no**'} |" for k, v in targets.items()
        ]
    skip = {"benchmark", "machine", "targets", "command", "load_avg_1min"}
    rows = _flatten({k: v for k, v in figures.items() if k not in skip})
    lines += ["", "| figure | value |", "|---|---|"] + [f"| {k} | {_cell(v)} |" for k, v in rows]
    for key, value in rows:
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            lines += ["", f"{key}:", ""] + _table(value)
    return lines + [""]


def result_files() -> list[Path]:
    """The latest full results (quick smoke results are not figures)."""
    return sorted(p for p in RESULTS_DIR.glob("*.json") if not p.stem.endswith("_quick"))


def generated_block() -> str:
    lines = [BEGIN, "", "## Latest figures (generated from benchmarks/results/*.json)", ""]
    for path in result_files():
        try:
            lines += render_result(json.loads(path.read_text()))
        except (json.JSONDecodeError, AttributeError) as exc:
            lines += [f"### {path.stem}", "", f"unreadable result file {path.name}: {exc}", ""]
    return "\n".join(lines + [END])


def refresh_performance(path: Path = PERFORMANCE) -> None:
    """Replace the generated block of PERFORMANCE.md (appended if the markers are missing)."""
    text = path.read_text() if path.exists() else "# Performance\n"
    block = generated_block()
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke-run every benchmark; PERFORMANCE.md is left alone")
    parser.add_argument("--only", default="", help="comma-separated benchmark names to run (default: all)")
    parser.add_argument("--skip", default="", help="comma-separated benchmark names not to run")
    parser.add_argument("--report-only", action="store_true", help="run nothing; rewrite PERFORMANCE.md's figures")
    parser.add_argument("--timeout", type=float, default=None, help="seconds allowed per benchmark")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    names = discover()
    only, skip = {n for n in args.only.split(",") if n}, {n for n in args.skip.split(",") if n}
    unknown = (only | skip) - set(names)
    if unknown:
        print(f"unknown benchmark(s): {', '.join(sorted(unknown))}; known: {', '.join(names)}", file=sys.stderr)
        return 2
    selected = [] if args.report_only else [n for n in names if (not only or n in only) and n not in skip]
    outcomes = []
    for name in selected:
        print(f"benchmarks: running {name}", file=sys.stderr, flush=True)
        outcomes.append(run_module(name, ["--quick"] if args.quick else [], args.timeout))
        print(
            f"benchmarks: {name}: {'ok' if outcomes[-1]['ok'] else 'FAILED: ' + outcomes[-1]['error']} "
            f"({outcomes[-1]['seconds']} s)",
            file=sys.stderr,
            flush=True,
        )
    if not args.quick:
        refresh_performance()
    failed = [o["name"] for o in outcomes if not o["ok"]]
    print(
        json.dumps(
            {"benchmarks": outcomes, "failed": failed, "performance_md": None if args.quick else str(PERFORMANCE)}
        )
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
