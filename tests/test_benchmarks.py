"""The benchmark suite: --quick runs end with one JSON object, the runner, PERFORMANCE.md, gpu.sh, fits and models."""

import json
import math
import sys
from pathlib import Path

import pytest
import torch
from processes import run_watched

from benchmarks.__main__ import BEGIN, END, discover, last_json_line, refresh_performance
from benchmarks.iteration import SavedTensorPeak
from benchmarks.projection import EXPERIMENTS, discrete_time, iterations_per_epoch, spec_hours
from benchmarks.quickstart import stage_seconds
from benchmarks.scaling import affine, growth, local_exponents, loglog_exponent
from nasplatform.tune.spec import load_spec

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


@pytest.mark.bench
def test_runner_smoke_runs_the_benchmarks():
    """`python -m benchmarks --quick` on this suite's CPU benchmarks: each prints one JSON object last (checked by
    the runner). quickstart (a Ray run, ~70 s) and the other suites' modules are left to `make bench`."""
    proc = run_watched(
        [sys.executable, "-m", "benchmarks", "--quick", "--only", "data_loading,iteration,scaling"],
        cwd=ROOT,
        watch=[RESULTS],
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = last_json_line(proc.stdout)
    assert [o["name"] for o in summary["benchmarks"]] == ["data_loading", "iteration", "scaling"]
    assert all(o["ok"] for o in summary["benchmarks"]) and summary["performance_md"] is None

    iteration = json.loads((RESULTS / "iteration_quick.json").read_text())
    its = iteration["iterations"]
    assert set(its) == {"OF/merged/fp32", "OF/reference/fp32", "C4/fp32"}
    assert all(v["wall_s"] > 0 and v["peak_saved_mb"] > 0 for v in its.values())
    # the reference supernet keeps every member's output for backward: more saved memory than merged
    assert iteration["ratios"]["merged_memory_over_reference/fp32"] < 1
    shares = iteration["profile"]["by_category"]
    assert math.isclose(sum(c["share"] for c in shares.values()), 1.0, abs_tol=0.01)
    loading = json.loads((RESULTS / "data_loading_quick.json").read_text())
    assert loading["loader_over_search_step"] > 0 and loading["search_step"]["it_per_s"] > 0
    scaling = json.loads((RESULTS / "scaling_quick.json").read_text())
    assert set(scaling["fits"]) >= {"time_vs_n", "memory_vs_n", "time_vs_size", "memory_vs_size"}


@pytest.mark.bench
def test_gpu_script_runs_its_steps_on_cpu():
    """Every step of the prepared GPU run, on the CPU; no time limit (a busy machine is slow), only a stall check."""
    proc = run_watched(
        ["bash", "benchmarks/gpu.sh", "--cpu-smoke"],
        cwd=ROOT,
        watch=[RESULTS],
        env={"PYTHON": sys.executable, "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert "failed: none" in proc.stdout
    iteration = json.loads((RESULTS / "iteration_gpu_quick.json").read_text())
    assert {"OF/merged/bf16", "OF/reference/fp32", "TF/merged/fp32", "C8/bf16"} <= set(iteration["iterations"])
    projection = json.loads((RESULTS / "projection_gpu_quick.json").read_text())
    assert set(projection["figures_hours"]["fp32"]) == {"fig3", "fig4", "fig5", "fig6"}


def test_quickstart_stages_are_cut_at_the_runner_log_lines():
    lines = [
        (0.5, "2026-11-29 ray started"),
        (2.0, "building the demo dataset /tmp/x/data/photo2winter (offline, once)"),
        (5.0, "search: 1 trial(s) in /tmp/x/runs/quickstart/search"),
        (30.0, "retrain: size matching and planning from the searches' genotypes"),
        (31.0, "retrain: 4 trial(s) in /tmp/x/runs/quickstart/retrain"),
        (90.0, "results: /tmp/x/results.parquet"),
    ]
    stages, missing = stage_seconds(lines, total=91.5)
    assert stages == {
        "startup": 2.0,
        "data": 3.0,
        "search": 25.0,
        "planning": 1.0,
        "retrain_evaluate": 59.0,
        "shutdown": 1.5,
    }
    assert missing == []
    stages, missing = stage_seconds([(1.0, "search: 1 trial(s) in x")], total=3.0)
    assert stages == {"startup": 1.0, "search": 2.0} and "retrain_evaluate" in missing


def test_last_json_line_refuses_anything_else():
    assert last_json_line('progress\n{"benchmark": "x"}\n') == {"benchmark": "x"}
    for bad in ("", '{"a": 1}\nnot json', "[1, 2]"):
        with pytest.raises(ValueError):
            last_json_line(bad)


def test_refresh_keeps_the_hand_written_text(tmp_path):
    doc = tmp_path / "PERFORMANCE.md"
    doc.write_text(f"# Performance\n\nwhy the misses happen\n\n{BEGIN}\nold figures\n{END}\n\n## Notes\nkept\n")
    refresh_performance(doc)
    text = doc.read_text()
    assert "why the misses happen" in text and "## Notes\nkept" in text and "old figures" not in text
    assert text.count(BEGIN) == 1 and "## Latest figures" in text
    bare = tmp_path / "bare.md"
    bare.write_text("# Performance\n")
    refresh_performance(bare)
    assert BEGIN in bare.read_text() and END in bare.read_text()


def test_discover_lists_benchmarks_not_support_modules():
    names = discover()
    assert {"iteration", "scaling", "quickstart", "mixed_op", "data_loading"} <= set(names)
    assert not {"harness", "projection", "__main__", "__init__"} & set(names)


def test_saved_tensor_peak_counts_what_backward_holds():
    x = torch.randn(1000, requires_grad=True)
    with SavedTensorPeak(exclude=[x]) as tracker:
        y = x.exp()  # saves its result: 4000 bytes
        z = (y * y).sum()  # saves y twice: one storage, counted once
    assert tracker.peak == 4000 and tracker.current == 4000
    z.backward()
    assert tracker.current == 0 and tracker.peak == 4000


def test_growth_exponents_and_superlinear_flag():
    ns = [5, 8, 11, 14]
    assert loglog_exponent(ns, [3 * n**1.5 for n in ns]) == pytest.approx(1.5)
    assert local_exponents([1, 2, 4], [1, 4, 16]) == pytest.approx([2.0, 2.0])
    assert growth("n_cells", ns, {n: {"t": 2.0 + n} for n in ns}, "t")["superlinear"] is False
    assert growth("n_cells", ns, {n: {"t": n**2} for n in ns}, "t")["superlinear"] is True
    assert growth("image_size", [64, 128, 256], {s: {"t": s**2} for s in (64, 128, 256)}, "t")["superlinear"] is False
    fit = affine(ns, [2.0 + 0.5 * n for n in ns])
    assert fit["slope"] == pytest.approx(0.5) and fit["fixed"] == pytest.approx(2.0)
    assert fit["local_slopes"] == pytest.approx([0.5, 0.5, 0.5])


def test_projection_cost_model():
    its = {
        "OF/merged/fp32": {"wall_s": 1.0},
        "TF/merged/fp32": {"wall_s": 2.0},
        "C16/fp32": {"wall_s": 0.1},
        "C64/fp32": {"wall_s": 0.4},
    }
    assert discrete_time(its, "fp32", 32) == pytest.approx(0.2)  # log-log line through (16, .1), (64, .4)
    assert discrete_time(its, "fp32", 128) == pytest.approx(0.8)
    assert iterations_per_epoch("horse2zebra") == 1334 and iterations_per_epoch("horse2zebra", "TH") == 667
    spec = load_spec(EXPERIMENTS / "fig6_asymmetry.yaml")  # horse2zebra, iphone2dslr_flower; C64, C'64, N64 x 5
    hours = spec_hours(spec, its, "fp32", inception_rate=1e12)
    # Fig. 6 retrains the OF searches of search_paper (retrain.genotypes_from): it runs none of its own
    assert hours["search_trials"] == 0 and hours["retrain_trials"] == 30 and hours["search_hours"] == 0
    shared = load_spec(EXPERIMENTS / "search_paper.yaml")
    searches = spec_hours(shared, its, "fp32", inception_rate=1e12)
    assert searches["search_trials"] == 6 and searches["retrain_trials"] == 0
    epochs = sum(iterations_per_epoch(d) for d in shared.datasets)
    assert searches["search_hours"] == pytest.approx(round(400 * epochs * 1.0 / 3600, 2))
    assert hours["retrain_hours"] == pytest.approx(round(200 * 15 * (1334 + 3325) * 0.4 / 3600, 2))
