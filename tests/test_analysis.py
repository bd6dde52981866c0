"""The analysis package: paper figures, CSVs with the plotted numbers, gaps, architecture plots and index.html."""

from __future__ import annotations

import json
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image
from processes import run_watched
from scipy import stats as scipy_stats

from analysis.architecture import alpha_deviation, alpha_deviation_heatmap
from analysis.load import (
    ALPHA_COLUMNS,
    OPTIONAL_FLOAT_COLUMNS,
    RESULTS_FLOAT_COLUMNS,
    RESULTS_INT_COLUMNS,
    RESULTS_STRING_COLUMNS,
    AnalysisInputError,
)
from analysis.report import build_report

REPO = Path(__file__).resolve().parents[1]

# The documented schema (docs/formats.md), spelled out here so the test does not trust analysis.load.
SCHEMA = pa.schema(
    [(c, pa.string()) for c in RESULTS_STRING_COLUMNS]
    + [(c, pa.int64()) for c in RESULTS_INT_COLUMNS]
    + [(c, pa.float64()) for c in RESULTS_FLOAT_COLUMNS]
)
CYCLEGAN_PARAMS = {16: 715_651, 32: 2_850_563, 64: 11_378_179}
GEN = {
    "kind": "generator",
    "encoding": ["conv3x3", "max_pool"],
    "residual": [["conv5x5", "dil_conv3x3"], ["conv3x3", "conv7x7"]],
    "decoding": ["bilinear", "trans_conv3x3"],
}
DISC = {"kind": "discriminator", "cells": [["conv4x4", "avg_pool"], ["conv3x3", "dil_conv5x5"]]}


def trial(**fields) -> dict:
    """A results row: every column present, null unless given."""
    row = {name: None for name in SCHEMA.names}
    row.update(status="ok", experiment="t", image_size=64, epochs_done=2, epochs_planned=2)
    row.update(fields)
    return row


def retrain(
    figure,
    dataset,
    arch,
    repeat,
    fid_a2b,
    fid_b2a,
    params_a,
    params_b,
    ha=32,
    hb=32,
    scheme=None,
    status="ok",
    run_dir=None,
):
    ok = status == "ok"
    return trial(
        stage="retrain",
        figure=figure,
        dataset=dataset,
        architecture=arch,
        scheme=scheme,
        repeat=repeat,
        seed=repeat,
        trial_id=f"{figure}-{dataset}-{arch}-{scheme}-{ha}-{repeat}",
        hidden_dim_a=ha,
        hidden_dim_b=hb,
        params_g_a=params_a,
        params_g_b=params_b,
        mb_g_a=4 * params_a / 1e6,
        mb_g_b=4 * params_b / 1e6,
        ref_params_g_a=CYCLEGAN_PARAMS.get(ha, 1000 * ha),
        ref_params_g_b=CYCLEGAN_PARAMS.get(hb, 1000 * hb),
        fid_a2b=fid_a2b if ok else None,
        fid_b2a=fid_b2a if ok else None,
        kid_a2b=fid_a2b / 1000 if ok else None,
        kid_b2a=fid_b2a / 1000 if ok else None,
        train_time_s=100.0 + repeat,
        status=status,
        error=None if ok else "CUDA out of memory",
        run_dir=run_dir,
    )


def fig3_rows() -> list[dict]:
    """4 schemes x 2 datasets x 3 repeats, minus one absent repeat (facades THS 2) and with one failed
    trial (horse2zebra TH 2), plus one search row per (dataset, scheme)."""
    rows = []
    for d, dataset in enumerate(("facades", "horse2zebra")):
        for s, scheme in enumerate(("OF", "TF", "TH", "THS")):
            pa_, pb_ = 2_850_563 + 100_000 * s, 2_850_563 + 300_000 * s + 50_000 * d
            rows.append(
                trial(
                    stage="search",
                    figure="fig3",
                    dataset=dataset,
                    scheme=scheme,
                    architecture="searched",
                    trial_id=f"search-{dataset}-{scheme}",
                    search_time_s=500.0 + s,
                    genotype_g_a=json.dumps(GEN),
                    genotype_g_b=json.dumps(GEN),
                    genotype_d_a=json.dumps(DISC),
                    genotype_d_b=json.dumps(DISC),
                    run_dir="runs/search_of" if (d, s) == (0, 0) else None,
                )
            )
            for r in range(3):
                if (dataset, scheme, r) == ("facades", "THS", 2):
                    continue
                status = "error" if (dataset, scheme, r) == ("horse2zebra", "TH", 2) else "ok"
                rows.append(
                    retrain(
                        "fig3",
                        dataset,
                        "searched",
                        r,
                        50 + 3 * s + r + 10 * d,
                        80 + 2 * s - r,
                        pa_,
                        pb_,
                        scheme=scheme,
                        status=status,
                        run_dir="runs/retrain_of" if (d, s, r) == (0, 0, 0) else None,
                    )
                )
    return rows


def fig4_rows() -> list[dict]:
    rows = []
    for arch, base in (("cyclegan", 60.0), ("searched", 55.0)):
        for h in (16, 32):
            for r in range(2):
                rows.append(
                    retrain(
                        "fig4", "facades", arch, r, base + h / 8 + 2 * r, base + 20 - r, 1000 * h, 1100 * h, ha=h, hb=h
                    )
                )
    return rows


def labelled_rows(figure, labels, datasets, repeats) -> list[dict]:
    """Size-matched models: `labels` maps label -> (params_a, params_b, H_a, H_b, base FID)."""
    rows = []
    for dataset in datasets:
        for label, (pa_, pb_, ha, hb, fid) in labels.items():
            for r in range(repeats):
                rows.append(retrain(figure, dataset, label, r, fid + r, fid + 30 - 2 * r, pa_, pb_, ha=ha, hb=hb))
    return rows


FIG5 = {
    "C32": (2_850_563, 2_850_563, 32, 32, 70.0),
    "C64": (11_378_179, 11_378_179, 64, 64, 60.0),
    "N32": (2_500_000, 3_100_000, 28, 28, 66.0),
    "N64": (10_000_000, 12_600_000, 56, 56, 52.0),
}
FIG6 = {
    "C64": (11_378_179, 11_378_179, 64, 64, 46.0),
    "C'64": (10_000_000, 12_600_000, 60, 67, 45.0),
    "N64": (10_000_000, 12_600_000, 56, 56, 38.0),
}
QUICK = {
    "C16": (715_651, 715_651, 16, 16, 90.0),
    "C32": (2_850_563, 2_850_563, 32, 32, 85.0),
    "N16": (700_000, 800_000, 15, 15, 88.0),
}


def write_results(rows: list[dict], path: Path) -> Path:
    table = pa.Table.from_pylist(rows, schema=SCHEMA)
    pq.write_table(table, path)
    return path


def write_alpha_history(path: Path) -> pd.DataFrame:
    """A tiny search: generator N=4 (enc, 2 residual cells, dec), discriminators with 2 cells; epochs 0..3."""
    ops = {
        "e": ["max_pool", "avg_pool", "conv3x3", "conv4x4", "conv5x5", "conv7x7", "dil_conv3x3", "dil_conv5x5"],
        "r": ["conv3x3", "conv5x5", "conv7x7", "dil_conv3x3", "dil_conv5x5"],
        "d": ["nearest", "bilinear", "trans_conv3x3"],
    }
    gen = [
        ("enc.0", 0, "e", 0),
        ("enc.1", 0, "e", 1),
        ("res1.0", 1, "r", 0),
        ("res1.1", 1, "r", 1),
        ("res2.0", 2, "r", 0),
        ("res2.1", 2, "r", 1),
        ("dec.0", 3, "d", 0),
        ("dec.1", 3, "d", 1),
    ]
    disc = [("enc1.0", 0, "e", 0), ("enc1.1", 0, "e", 1), ("enc2.0", 1, "e", 0), ("enc2.1", 1, "e", 1)]
    rng = np.random.default_rng(0)
    records = []
    for network, slots in (("g_a", gen), ("g_b", gen), ("d_a", disc), ("d_b", disc)):
        for mixed_op, cell, cell_type, position in slots:
            alpha = rng.normal(0, 1e-3, len(ops[cell_type]))
            drift = rng.normal(0, 0.6, len(ops[cell_type]))
            for epoch in range(4):
                a = alpha + epoch * drift
                w = np.exp(a) / np.exp(a).sum()
                records += [
                    {
                        "epoch": epoch,
                        "network": network,
                        "mixed_op": mixed_op,
                        "cell": cell,
                        "cell_type": cell_type,
                        "position": position,
                        "op": op,
                        "alpha": float(x),
                        "weight": float(y),
                    }
                    for op, x, y in zip(ops[cell_type], a, w)
                ]
    frame = pd.DataFrame.from_records(records, columns=list(ALPHA_COLUMNS))
    frame.to_parquet(path)
    return frame


def write_metrics(path: Path) -> None:
    losses = ["loss_g", "loss_adv_a2b", "loss_adv_b2a", "loss_cyc", "loss_idt", "loss_d_a", "loss_d_b"]
    rows = [
        {
            "epoch": e,
            "iterations": 6,
            "wall_time_s": 1.0,
            "elapsed_s": float(e),
            "lr": 2e-4,
            "status": "ok" if e < 3 else "diverged",
            **{k: 1.0 / e + i for i, k in enumerate(losses)},
        }
        for e in (1, 2, 3)
    ]
    pd.DataFrame(rows).to_parquet(path)


def write_sample(path: Path, shade: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((24, 36, 3), shade, dtype=np.uint8)).save(path)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("exp")
    rows = (
        fig3_rows()
        + fig4_rows()
        + labelled_rows("fig5", FIG5, ("facades", "horse2zebra"), 3)
        + labelled_rows("fig6", FIG6, ("horse2zebra",), 2)
        + labelled_rows("quickstart", QUICK, ("tiny",), 2)
    )
    results = write_results(rows, root / "results.parquet")
    search = root / "runs" / "search_of"
    search.mkdir(parents=True)
    history = write_alpha_history(search / "alpha_history.parquet")
    write_metrics(search / "metrics.parquet")
    write_sample(search / "samples" / "epoch_0001.png", 40)
    write_sample(search / "samples" / "epoch_0002.png", 200)
    write_sample(root / "runs" / "retrain_of" / "samples" / "epoch_0010.png", 90)
    report = build_report(results, root / "report")
    return {"root": root, "rows": rows, "report": report, "out": root / "report", "history": history}


def _csv(built, name: str) -> pd.DataFrame:
    return pd.read_csv(built["out"] / "figures" / f"{name}.csv")


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


def test_every_paper_figure_has_png_svg_csv_and_appears_in_index(built):
    index = (built["out"] / "index.html").read_text()
    for name in ("fig3_schemes", "fig4_hidden_dim", "fig5_size_matched", "fig6_asymmetry", "quickstart_size_matched"):
        for ext in ("png", "svg", "csv"):
            path = built["out"] / "figures" / f"{name}.{ext}"
            assert path.is_file() and path.stat().st_size > 0, path
        assert f"figures/{name}.png" in index
    assert {f.name for f in built["report"].figures} == {
        "fig3_schemes",
        "fig4_hidden_dim",
        "fig5_size_matched",
        "fig6_asymmetry",
        "quickstart_size_matched",
    }
    for name in ("results_with_baselines", "comparisons", "scores", "runs", "trial_status"):
        assert (built["out"] / "tables" / f"{name}.csv").is_file()
        assert (built["out"] / "tables" / f"{name}.md").read_text().count("|") > 10


def _expected_scatter(rows, figure, group_key, reference, size_of, ref_size_of):
    """{(dataset, direction, group, trial_id): (x, y)} computed row by row, independently of analysis."""
    expected = {}
    for direction, fid_key in (("A->B", "fid_a2b"), ("B->A", "fid_b2a")):
        for row in rows:
            if row["figure"] != figure or row["stage"] != "retrain" or row["status"] != "ok":
                continue
            refs = [
                r
                for r in rows
                if r["figure"] == figure
                and r["stage"] == "retrain"
                and r["status"] == "ok"
                and r["dataset"] == row["dataset"]
                and r[group_key] == reference
            ]
            y = row[fid_key] / _mean(r[fid_key] for r in refs)
            x = size_of(row, direction) / ref_size_of(row, direction, refs)
            expected[(row["dataset"], direction, row[group_key], row["trial_id"])] = (x, y)
    return expected


def _check_trials(table: pd.DataFrame, expected: dict) -> None:
    trials = table[table["kind"] == "trial"]
    got = {(r.dataset, r.direction, r.group, r.trial_id): (r.x, r.y) for r in trials.itertuples()}
    assert set(got) == set(expected)
    for key, (x, y) in expected.items():
        assert got[key][0] == pytest.approx(x, rel=1e-9) and got[key][1] == pytest.approx(y, rel=1e-9), key


def test_fig3_normalizes_each_generator_to_cyclegan_and_fid_to_mean_of_of(built):
    gen = {"A->B": "a", "B->A": "b"}
    expected = _expected_scatter(
        built["rows"],
        "fig3",
        "scheme",
        "OF",
        lambda row, d: row[f"params_g_{gen[d]}"],
        lambda row, d, refs: row[f"ref_params_g_{gen[d]}"],
    )
    table = _csv(built, "fig3_schemes")
    _check_trials(table, expected)
    mean = table[
        (table["kind"] == "mean")
        & (table["dataset"] == "facades")
        & (table["direction"] == "A->B")
        & (table["group"] == "OF")
    ]
    assert mean["y"].iloc[0] == pytest.approx(1.0)


GEN_OF = {"A->B": "a", "B->A": "b"}


def _per_generator(reference):
    """Each panel's generator size over the mean size of the same generator in the reference's trials."""
    return dict(
        size_of=lambda row, d: row[f"params_g_{GEN_OF[d]}"],
        ref_size_of=lambda row, d, refs: _mean(r[f"params_g_{GEN_OF[d]}"] for r in refs),
    )


def test_fig5_normalizes_each_generator_and_fid_to_c32(built):
    # The paper: "All the model sizes are normalized with respect to that of C32 generator": G_A in the A->B
    # panel, G_B in the B->A panel, each over C32's generator as the platform measured it (not a constant).
    expected = _expected_scatter(built["rows"], "fig5", "architecture", "C32", **_per_generator("C32"))
    table = _csv(built, "fig5_size_matched")
    _check_trials(table, expected)
    n64 = table[(table["kind"] == "trial") & (table["group"] == "N64")]
    assert n64[n64["direction"] == "A->B"]["x"].iloc[0] == pytest.approx(10_000_000 / 2_850_563)
    assert n64[n64["direction"] == "B->A"]["x"].iloc[0] == pytest.approx(12_600_000 / 2_850_563)


def test_asymmetric_n_model_sits_at_different_x_in_the_two_panels(built):
    for name, model, (params_a, params_b) in (
        ("fig5_size_matched", "N32", (2_500_000, 3_100_000)),
        ("quickstart_size_matched", "N16", (700_000, 800_000)),
        ("fig6_asymmetry", "C'64", (10_000_000, 12_600_000)),
    ):
        table = _csv(built, name)
        for kind in ("trial", "mean"):
            rows = table[(table["kind"] == kind) & (table["group"] == model)]
            x = {d: set(rows.loc[rows["direction"] == d, "x"].round(12)) for d in ("A->B", "B->A")}
            assert len(x["A->B"]) == 1 and len(x["B->A"]) == 1, (name, kind, x)
            (xa,), (xb,) = x["A->B"], x["B->A"]
            assert xa != pytest.approx(xb), (name, kind)
            assert xa / xb == pytest.approx(params_a / params_b), (name, kind)
        # The symmetric reference model sits at x = 1 in both panels.
        reference = table[(table["kind"] == "mean") & (table["group"] == table["group"].iloc[0])]
        assert np.allclose(reference["x"], 1.0)


def test_fig6_normalizes_per_generator_to_c64(built):
    expected = _expected_scatter(built["rows"], "fig6", "architecture", "C64", **_per_generator("C64"))
    _check_trials(_csv(built, "fig6_asymmetry"), expected)


def test_quickstart_is_normalized_to_the_smallest_c_model(built):
    expected = _expected_scatter(built["rows"], "quickstart", "architecture", "C16", **_per_generator("C16"))
    _check_trials(_csv(built, "quickstart_size_matched"), expected)


def test_scatter_means_carry_the_t_interval_of_their_repeats(built):
    table = _csv(built, "fig5_size_matched")
    fids = [
        r["fid_b2a"]
        for r in built["rows"]
        if r["figure"] == "fig5" and r["dataset"] == "horse2zebra" and r["architecture"] == "N64"
    ]
    ref = _mean(
        r["fid_b2a"]
        for r in built["rows"]
        if r["figure"] == "fig5" and r["dataset"] == "horse2zebra" and r["architecture"] == "C32"
    )
    low, high = scipy_stats.t.interval(0.95, len(fids) - 1, loc=np.mean(fids), scale=scipy_stats.sem(fids))
    mean = table[
        (table["kind"] == "mean")
        & (table["dataset"] == "horse2zebra")
        & (table["direction"] == "B->A")
        & (table["group"] == "N64")
    ].iloc[0]
    assert mean["n"] == 3 and mean["fid_std"] == pytest.approx(np.std(fids, ddof=1))
    assert (mean["fid_ci_low"], mean["fid_ci_high"]) == (pytest.approx(low), pytest.approx(high))
    assert (mean["y_ci_low"], mean["y_ci_high"]) == (pytest.approx(low / ref), pytest.approx(high / ref))
    assert "95% t-interval" in next(f for f in built["report"].figures if f.name == "fig5_size_matched").caption
    fig4 = _csv(built, "fig4_hidden_dim")
    assert fig4["fid_ci_low"].notna().all() and (fig4["fid_ci_low"] < fig4["fid_mean"]).all()


def test_fig4_mean_min_max_per_family_and_h(built):
    table = _csv(built, "fig4_hidden_dim")
    for arch, family in (("cyclegan", "CycleGAN"), ("searched", "searched")):
        for h in (16, 32):
            fids = [
                r["fid_b2a"]
                for r in built["rows"]
                if r["figure"] == "fig4" and r["architecture"] == arch and r["hidden_dim_b"] == h
            ]
            got = table[(table["family"] == family) & (table["H"] == h) & (table["direction"] == "B->A")]
            assert len(got) == 1
            assert got["fid_mean"].iloc[0] == pytest.approx(_mean(fids))
            assert (got["fid_min"].iloc[0], got["fid_max"].iloc[0]) == (min(fids), max(fids))
            assert got["n"].iloc[0] == 2 and got["n_missing"].iloc[0] == 0


def test_incomplete_grid_is_marked_and_counted(built):
    fig3 = next(f for f in built["report"].figures if f.name == "fig3_schemes")
    # One failed trial and one absent repeat, each lacking both directions.
    assert fig3.n_missing == 4
    assert "lacks 4 trial" in fig3.caption and "1 failed" not in fig3.caption
    missing = _csv(built, "fig3_schemes").query("kind == 'missing'")
    got = {(r.dataset, r.group, r.direction): r.n for r in missing.itertuples()}
    assert got == {
        ("facades", "THS", "A->B"): 1,
        ("facades", "THS", "B->A"): 1,
        ("horse2zebra", "TH", "A->B"): 1,
        ("horse2zebra", "TH", "B->A"): 1,
    }
    assert missing["x"].notna().all()
    complete = next(f for f in built["report"].figures if f.name == "fig5_size_matched")
    assert complete.n_missing == 0 and "Incomplete" not in complete.caption
    index = (built["out"] / "index.html").read_text()
    assert "this figure lacks 4 trial result(s)" in index
    manifest = json.loads((built["out"] / "report.json").read_text())
    assert {f["name"]: f["n_missing"] for f in manifest["figures"]}["fig3_schemes"] == 4


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.links += [v for k, v in attrs if k in ("href", "src") and v]


def test_every_link_in_index_resolves_and_is_relative(built):
    parser = _Links()
    parser.feed((built["out"] / "index.html").read_text())
    assert len(parser.links) > 20
    for link in parser.links:
        assert "://" not in link and not link.startswith("/"), link
        assert (built["out"] / unquote(link)).is_file(), link


def test_architecture_figures_of_the_search_run(built):
    runs = {r.trial_id: r for r in built["report"].runs}
    assert len(runs) == 8
    run = runs["search-facades-OF"]
    stems = sorted(files.png.name for files, _ in run.figures)
    assert all("search-facades-OF_" in s for s in stems)
    assert [s.split("search-facades-OF_")[1] for s in stems] == [
        "alpha.png",
        "alpha_deviation.png",
        "genotype.png",
        "losses.png",
    ]
    alpha = pd.read_csv(next(f.csv for f, _ in run.figures if f.csv.name.endswith("_alpha.csv")))
    history = built["history"]
    merged = alpha.merge(history, on=["network", "mixed_op", "op", "epoch"], suffixes=("", "_src"))
    assert len(merged) == len(history) == len(alpha)
    assert np.allclose(merged["weight"], merged["weight_src"])
    deviation = pd.read_csv(next(f.csv for f, _ in run.figures if f.csv.name.endswith("_alpha_deviation.csv")))
    assert len(deviation) == len(history)
    # The fixture mixes op sets of 8, 5 and 3 candidates: each mixed op must use its own K.
    assert set(deviation["n_candidates"]) == {8, 5, 3}
    assert np.allclose(deviation["deviation"], deviation["weight"] - 1 / deviation["n_candidates"], atol=1e-12)
    genotype = pd.read_csv(next(f.csv for f, _ in run.figures if f.csv.name.endswith("_genotype.csv")))
    g_a_ops = genotype[(genotype["network"] == "g_a") & genotype["cell_type"].isin(["e", "r", "d"])]["op"].tolist()
    assert g_a_ops == GEN["encoding"] + sum(GEN["residual"], []) + GEN["decoding"]
    # The other search rows have no run folder: they still get genotype diagrams, and the gap is said.
    other = runs["search-horse2zebra-TH"]
    assert len(other.figures) == 1 and any("run_dir" in n for n in other.notes)


def test_report_lists_the_alpha_deviation_heatmap(built):
    index = (built["out"] / "index.html").read_text()
    manifest = json.loads((built["out"] / "report.json").read_text())
    pngs = [p for r in manifest["search_runs"] for p in r["figures"] if p.endswith("_alpha_deviation.png")]
    assert len(pngs) == 1 and "search-facades-OF" in pngs[0]
    stem = pngs[0].removesuffix(".png")
    for ext in ("png", "svg", "csv"):
        assert f'href="{stem}.{ext}"' in index
    assert "softmax(alpha) − 1/K" in index


def _tiny_history() -> pd.DataFrame:
    """Two mixed ops of different K (3 and 2) in one network and one of K = 4 in another, epochs 0 and 1."""
    ops = {
        ("g_a", "dec.0", 0, "d"): ["nearest", "bilinear", "trans_conv3x3"],
        ("g_a", "res1.0", 1, "r"): ["conv3x3", "conv5x5"],
        ("d_a", "enc1.0", 0, "e"): ["max_pool", "avg_pool", "conv3x3", "conv4x4"],
    }
    alphas = {
        0: [0.0, 1e-3, -2e-3, 3e-4, -1e-4, 5e-4, 0.0, -5e-4, 2e-3],
        1: [0.4, -0.1, 0.2, 1.0, 0.0, 0.3, -0.3, 0.05, 0.7],
    }
    records = []
    for epoch, values in alphas.items():
        values = iter(values)
        for (network, mixed_op, cell, cell_type), names in ops.items():
            for _position, op in enumerate(names):
                a = next(values)
                records.append(
                    {
                        "epoch": epoch,
                        "network": network,
                        "mixed_op": mixed_op,
                        "cell": cell,
                        "cell_type": cell_type,
                        "position": 0,
                        "op": op,
                        "alpha": a,
                        "weight": np.nan,
                    }
                )
    frame = pd.DataFrame.from_records(records, columns=list(ALPHA_COLUMNS))
    total = frame.assign(e=np.exp(frame["alpha"])).groupby(["network", "mixed_op", "epoch"])["e"].transform("sum")
    return frame.assign(weight=np.exp(frame["alpha"]) / total)


def test_alpha_deviation_is_softmax_minus_one_over_k_of_each_mixed_op():
    history = _tiny_history()
    table = alpha_deviation(history)
    # Hand-computed for g_a dec.0 at epoch 1 (K = 3): alphas 0.4, -0.1, 0.2.
    e = [np.exp(0.4), np.exp(-0.1), np.exp(0.2)]
    expected = [x / sum(e) - 1 / 3 for x in e]
    got = table[(table["mixed_op"] == "dec.0") & (table["epoch"] == 1)]
    assert got["n_candidates"].tolist() == [3, 3, 3]
    assert np.allclose(got["deviation"], expected, rtol=0, atol=1e-15)
    k = {"dec.0": 3, "res1.0": 2, "enc1.0": 4}
    assert (table["n_candidates"] == table["mixed_op"].map(k)).all()
    assert np.allclose(table["deviation"], history["weight"] - 1 / table["mixed_op"].map(k), rtol=0, atol=1e-15)
    sums = table.groupby(["network", "mixed_op", "epoch"])["deviation"].sum()
    assert len(sums) == 6 and np.allclose(sums, 0, rtol=0, atol=1e-15)


def test_alpha_deviation_heatmap_writes_a_diverging_image_with_its_range(tmp_path):
    history = _tiny_history()
    files = alpha_deviation_heatmap(history, "tiny search", tmp_path, "tiny_alpha_deviation")
    with Image.open(files.png) as image:
        image.verify()
    pixels = np.asarray(Image.open(files.png).convert("RGB")).astype(int)
    assert pixels.shape[0] >= 495 and pixels.shape[1] > 1000
    r, _g, b = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    assert ((r - b) > 80).sum() > 100 and ((b - r) > 80).sum() > 100  # both sides of the diverging map are drawn
    span = alpha_deviation(history)["deviation"].abs().max()
    svg = files.svg.read_text()
    assert f"max |deviation| = {span:.1e}" in svg and "softmax(alpha) − 1/K" in svg
    table = pd.read_csv(files.csv)
    assert len(table) == len(history) and {"n_candidates", "deviation"} <= set(table.columns)
    assert np.isclose(table["deviation"].abs().max(), span)


def test_alpha_deviation_rejects_repeated_rows():
    history = _tiny_history()
    with pytest.raises(AnalysisInputError, match=r"repeated .*\(g_a, dec.0, 0, nearest\)"):
        alpha_deviation(pd.concat([history, history.iloc[:1]], ignore_index=True))


def test_latest_sample_of_each_run_is_copied(built):
    samples = built["report"].samples
    assert len(samples) == 2
    search = next(p for p, caption in samples if "search-facades-OF" in caption)
    assert search.name.endswith("epoch_0002.png")
    assert np.asarray(Image.open(search))[0, 0, 0] == 200


def test_tables_hold_scores_and_status_counts(built):
    scores = pd.read_csv(built["out"] / "tables" / "scores.csv")
    th = scores[
        (scores["figure"] == "fig3")
        & (scores["dataset"] == "horse2zebra")
        & (scores["scheme"] == "TH")
        & (scores["direction"] == "A->B")
    ]
    fids = [
        r["fid_a2b"]
        for r in built["rows"]
        if r["figure"] == "fig3"
        and r["stage"] == "retrain"
        and r["dataset"] == "horse2zebra"
        and r["scheme"] == "TH"
        and r["status"] == "ok"
    ]
    assert th["n_trials"].iloc[0] == 3 and th["n_valid"].iloc[0] == 2
    assert th["fid_mean"].iloc[0] == pytest.approx(_mean(fids)) and th["fid_max"].iloc[0] == max(fids)
    assert th["kid_min"].iloc[0] == pytest.approx(min(fids) / 1000)
    status = pd.read_csv(built["out"] / "tables" / "trial_status.csv")
    fig3 = status[(status["figure"] == "fig3") & (status["stage"] == "retrain")]
    assert (fig3["ok"].iloc[0], fig3["error"].iloc[0], fig3["total"].iloc[0]) == (22, 1, 23)


def test_failed_reference_and_absent_model_are_marked_not_dropped(tmp_path):
    rows = labelled_rows("fig5", FIG5, ("facades", "horse2zebra"), 2)
    for row in rows:
        if row["dataset"] == "horse2zebra" and row["architecture"] == "C32":
            row.update(status="diverged", fid_a2b=None, fid_b2a=None)
    rows = [r for r in rows if not (r["dataset"] == "facades" and r["architecture"] == "N64")]
    report = build_report(write_results(rows, tmp_path / "results.parquet"), tmp_path / "report")
    fig5 = report.figures[0]
    assert fig5.n_missing == 8 and "4 failed or without FID, 4 absent" in fig5.caption
    table = pd.read_csv(fig5.files.csv)
    horse = table[(table["kind"] == "trial") & (table["dataset"] == "horse2zebra")]
    # Without a valid C32 FID the horse2zebra trials stay in the CSV, unnormalized (y empty), sizes still normalized.
    assert len(horse) == 12 and horse["y"].isna().all()
    n64 = horse[horse["group"] == "N64"]
    assert n64.loc[n64["direction"] == "A->B", "x"].iloc[0] == pytest.approx(10_000_000 / 2_850_563)
    assert n64.loc[n64["direction"] == "B->A", "x"].iloc[0] == pytest.approx(12_600_000 / 2_850_563)
    missing = table[table["kind"] == "missing"]
    assert set(zip(missing["dataset"], missing["group"], missing["n"])) == {
        ("facades", "N64", 2),
        ("horse2zebra", "C32", 2),
    }


def test_figures_without_rows_are_skipped_and_said(tmp_path):
    results = write_results(labelled_rows("quickstart", QUICK, ("tiny",), 1), tmp_path / "results.parquet")
    report = build_report(results, tmp_path / "report")
    assert [f.name for f in report.figures] == ["quickstart_size_matched"]
    skipped = " ".join(report.skipped)
    for figure in ("fig3", "fig4", "fig5", "fig6"):
        assert f"figure == '{figure}'" in skipped
    assert "Skipped figures" in (tmp_path / "report" / "index.html").read_text()


def test_a_new_figure_value_is_drawn_from_its_labels_without_a_code_change(tmp_path):
    """An experiment with `figure: <name>` needs no entry in analysis/: C/N rows get the size-matched view,
    C' rows the asymmetry view too, and a value whose architectures fit no kind is named as undrawn."""
    rows = (
        labelled_rows("my_sizes", QUICK, ("tiny",), 2)
        + labelled_rows("my_asym", FIG6, ("tiny",), 2)
        + [retrain("my_fixed", "tiny", "cyclegan", 0, 50.0, 60.0, 1000, 1000, ha=8, hb=8)]
    )
    report = build_report(write_results(rows, tmp_path / "results.parquet"), tmp_path / "report")
    assert [f.name for f in report.figures] == ["my_asym_size_matched", "my_asym_asymmetry", "my_sizes_size_matched"]
    for name in ("my_asym_asymmetry", "my_sizes_size_matched"):
        assert (tmp_path / "report" / "figures" / f"{name}.png").stat().st_size > 0
    expected = _expected_scatter(rows, "my_sizes", "architecture", "C16", **_per_generator("C16"))
    _check_trials(_csv({"out": tmp_path / "report"}, "my_sizes_size_matched"), expected)
    assert any("fit no figure kind" in note and "my_fixed" in note for note in report.skipped)


def test_missing_column_names_file_and_column(tmp_path):
    path = tmp_path / "bad.parquet"
    rows = labelled_rows("quickstart", QUICK, ("tiny",), 1)
    pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA).drop(["ref_params_g_b"]), path)
    with pytest.raises(AnalysisInputError, match=r"bad\.parquet.*ref_params_g_b"):
        build_report(path, tmp_path / "out")


@pytest.mark.e2e  # a search or retrain run end to end (> 5 s)
def test_cli_builds_a_report_of_several_tables_without_importing_torch_or_ray(tmp_path):
    results = write_results(labelled_rows("quickstart", QUICK, ("tiny",), 1), tmp_path / "results.parquet")
    grown = write_results(labelled_rows("quickstart", QUICK, ("tiny",), 2), tmp_path / "grown.parquet")
    code = (
        "import sys; from analysis.cli import main; "
        f"rc = main(['report', {str(results)!r}, {str(grown)!r}, '--out', {str(tmp_path / 'out')!r}]); "
        "assert rc == 0; bad = [m for m in ('torch', 'ray', 'nasplatform') if m in sys.modules]; "
        "assert not bad, bad"
    )
    done = run_watched([sys.executable, "-c", code], cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "index.html").is_file()
    # The first table's 3 trials are also in the grown one: drawn once, with a warning.
    assert "warning: 3 duplicate trial row(s) dropped" in done.stderr
    assert json.loads((tmp_path / "out" / "report.json").read_text())["rows"] == 6
    missing = run_watched(
        [sys.executable, "-m", "analysis", "report", str(tmp_path / "nope.parquet"), "--out", str(tmp_path / "o2")],
        cwd=REPO,
    )
    assert missing.returncode == 2 and "nope.parquet" in missing.stderr


# --- statistics (analysis.stats) against scipy on fixed numbers ---

FID_N = [52.1, 49.8, 55.3, 50.2, 51.7]
FID_C = [58.4, 61.2, 57.9, 60.5, 59.0]
FID_C_UNEQUAL = [57.0, 63.5, 55.1]


def test_summary_is_the_t_interval_of_scipy():
    from analysis.stats import summarize

    s = summarize(FID_N + [float("nan")])  # a failed trial (NaN) takes no part
    low, high = scipy_stats.t.interval(0.95, 4, loc=np.mean(FID_N), scale=scipy_stats.sem(FID_N))
    assert (s.n, s.mean, s.std) == (5, pytest.approx(np.mean(FID_N)), pytest.approx(np.std(FID_N, ddof=1)))
    assert (s.ci_low, s.ci_high) == (pytest.approx(low, rel=1e-12), pytest.approx(high, rel=1e-12))
    assert s.half_width == pytest.approx(scipy_stats.t.ppf(0.975, 4) * np.std(FID_N, ddof=1) / np.sqrt(5))
    one = summarize([3.0])
    assert one.n == 1 and one.mean == 3.0 and np.isnan(one.ci_low)


@pytest.mark.parametrize("b", [FID_C, FID_C_UNEQUAL])
def test_welch_matches_scipy_ttest_ind_unequal_var(b):
    from analysis.stats import welch

    got = welch(FID_N, b)
    ref = scipy_stats.ttest_ind(FID_N, b, equal_var=False)
    interval = ref.confidence_interval(0.95)
    assert got.t == pytest.approx(ref.statistic, rel=1e-12) and got.p == pytest.approx(ref.pvalue, rel=1e-10)
    assert got.df == pytest.approx(ref.df, rel=1e-12) and got.diff == pytest.approx(np.mean(FID_N) - np.mean(b))
    assert (got.ci_low, got.ci_high) == (
        pytest.approx(interval.low, rel=1e-10),
        pytest.approx(interval.high, rel=1e-10),
    )


def test_permutation_test_matches_scipy_exact_and_brute_force():
    from analysis.stats import permutation_test

    got = permutation_test(FID_N, FID_C)
    ref = scipy_stats.permutation_test(
        (FID_N, FID_C),
        lambda x, y: np.mean(x) - np.mean(y),
        permutation_type="independent",
        alternative="two-sided",
        n_resamples=np.inf,
    )
    assert got.exact and got.n_resamples == 252 and got.p == pytest.approx(ref.pvalue)
    assert got.p == pytest.approx(2 / 252)  # the observed split and its mirror are the most extreme
    # Unequal groups: every one of the C(8, 5) = 56 relabellings, counted by hand.
    import itertools

    pooled = FID_N + FID_C_UNEQUAL
    observed = abs(np.mean(FID_N) - np.mean(FID_C_UNEQUAL))
    hits = sum(
        abs(np.mean([pooled[i] for i in idx]) - np.mean([pooled[i] for i in range(8) if i not in idx]))
        >= observed - 1e-9
        for idx in itertools.combinations(range(8), 5)
    )
    assert permutation_test(FID_N, FID_C_UNEQUAL).p == pytest.approx(hits / 56)


def test_hedges_g_by_hand():
    from analysis.stats import hedges_g

    # means 2 and 5, both variances 1: pooled SD 1, d = -3, J = 1 - 3 / (4 * 6 - 9) = 0.8.
    assert hedges_g([1, 2, 3], [4, 5, 6]) == pytest.approx(-2.4)
    sp = np.sqrt((4 * np.var(FID_N, ddof=1) + 4 * np.var(FID_C, ddof=1)) / 8)
    assert hedges_g(FID_N, FID_C) == pytest.approx((np.mean(FID_N) - np.mean(FID_C)) / sp * (1 - 3 / 31))


def test_verdict_says_which_is_better_or_no_significant_difference():
    from analysis.stats import compare, verdict

    better = verdict("N32", "C32", "FID", compare(FID_N, FID_C), lower_is_better=True)
    assert better.startswith("N32 has lower FID than C32 by") and "Welch p=" in better
    same = verdict("N32", "C32", "FID", compare(FID_N, [51.0, 53.9, 49.5, 52.2, 50.8]), lower_is_better=True)
    assert same.startswith("no significant difference in FID between N32 and C32 (Welch p=")
    psnr = verdict("N32", "C32", "PSNR", compare(FID_N, FID_C), lower_is_better=False)
    assert psnr.startswith("C32 has higher PSNR than N32")
    assert verdict("N32", "C32", "FID", compare(FID_N, []), True).startswith("not compared: C32 has no valid")


# --- the results with baselines, the comparisons, and several tables in one report ---

BASELINE_COLUMNS = [c for c in OPTIONAL_FLOAT_COLUMNS if c.startswith(("identity_", "mean_colour_", "true_", "floor_"))]
SCHEMA_NEW = pa.schema(
    list(SCHEMA)
    + [("trial_key", pa.string())]
    + [(c, pa.float64()) for c in ("kid_a2b_std", "kid_b2a_std", *BASELINE_COLUMNS)]
)


def with_baselines(row: dict, experiment: str) -> dict:
    """The newer table's extra columns: a trial_key and the evaluation's baselines (same test set, same values)."""
    row = {**row, "experiment": experiment, "trial_key": f"{row['trial_id']}-key"}
    row.update(kid_a2b_std=0.002, kid_b2a_std=0.003)
    for c in BASELINE_COLUMNS:
        row[c] = {"identity_": 0.09, "mean_colour_": 0.12, "true_": 0.004, "floor_": 0.002}[
            next(p for p in ("identity_", "mean_colour_", "true_", "floor_") if c.startswith(p))
        ]
        if "fid" in c:
            row[c] *= 1000
        if "psnr" in c:
            row[c] = {"identity_": 14.8, "mean_colour_": 15.5}[c.split("psnr")[0]]
    return row


def two_tables(tmp_path: Path) -> tuple[Path, Path, list[dict], list[dict]]:
    """Experiment e1 (an older table: no trial_key, no baselines) holds C32 and N32 of Fig. 5; e2 (newer) holds
    C64 and N64 with baselines, plus a stale 'running' copy of one of its own trials from an earlier collect."""
    first, second = [], []
    for label, fids, (pa_, pb_, ha) in (
        ("C32", FID_C, (2_850_563, 2_850_563, 32)),
        ("N32", FID_N, (2_500_000, 3_100_000, 28)),
    ):
        first += [
            retrain("fig5", "facades", label, r, f, f + 40, pa_, pb_, ha=ha, hb=ha) | {"experiment": "e1"}
            for r, f in enumerate(fids)
        ]
    for label, fids, (pa_, pb_, ha) in (
        ("C64", [50.0, 53.1, 49.0, 51.5, 52.2], (11_378_179, 11_378_179, 64)),
        ("N64", [51.0, 53.9, 49.5, 52.2, 50.8], (10_000_000, 12_600_000, 56)),
    ):
        second += [
            with_baselines(retrain("fig5", "facades", label, r, f, f + 40, pa_, pb_, ha=ha, hb=ha), "e2")
            for r, f in enumerate(fids)
        ]
    for row in first + second:
        row["psnr_a2b"] = 30.0 - row["fid_a2b"] / 10
    stale = {**second[0], "status": "running", "fid_a2b": None, "fid_b2a": None}
    a = tmp_path / "e1" / "results.parquet"
    b = tmp_path / "e2" / "results.parquet"
    a.parent.mkdir()
    b.parent.mkdir()
    write_results(first, a)
    pq.write_table(pa.Table.from_pylist([stale] + second, schema=SCHEMA_NEW), b)
    return a, b, first, second


@pytest.fixture(scope="module")
def merged(tmp_path_factory):
    root = tmp_path_factory.mktemp("two")
    a, b, first, second = two_tables(root)
    report = build_report([a, b], root / "report")
    return {"report": report, "out": root / "report", "first": first, "second": second, "a": a, "b": b}


def test_report_over_two_tables_draws_both_in_one_figure(merged):
    fig5 = pd.read_csv(merged["out"] / "figures" / "fig5_size_matched.csv")
    trials = fig5[fig5["kind"] == "trial"]
    assert set(trials["group"]) == {"C32", "N32", "C64", "N64"}
    assert len(trials) == 2 * 20  # 20 trials, both directions; the stale duplicate is not drawn
    # Both experiments are normalized to C32, which only the first table holds.
    n64 = trials[(trials["group"] == "N64") & (trials["direction"] == "A->B")]
    assert n64["x"].iloc[0] == pytest.approx(10_000_000 / 2_850_563)
    figure = merged["report"].figures[0]
    assert "Holds 20 trial(s): 10 from experiment e1" in figure.caption and "10 from experiment e2" in figure.caption
    assert "duplicate trial row(s) dropped" in " ".join(merged["report"].warnings)
    manifest = json.loads((merged["out"] / "report.json").read_text())
    assert manifest["trials_by_experiment"] == {"e1": 10, "e2": 10} and len(manifest["results"]) == 2
    for table in merged["report"].tables:
        assert "from experiment e1" in table.markdown.read_text() and "from experiment e2" in table.markdown.read_text()


def test_duplicates_keep_the_finished_row_and_fall_back_to_experiment_and_trial_id(tmp_path):
    from analysis.load import load_tables

    a, b, first, second = two_tables(tmp_path)
    frame, warnings = load_tables([b, a, a])
    assert len(frame) == 20 and len(warnings) == 1 and "11 duplicate" in warnings[0]
    kept = frame[frame["row_key"] == f"{second[0]['trial_id']}-key"]
    assert kept["status"].tolist() == ["ok"]
    assert set(frame.loc[frame["experiment"] == "e1", "row_key"]) == {f"e1/{r['trial_id']}" for r in first}
    assert frame["run_dir"].isna().all() and frame["source"].nunique() == 2


def test_comparisons_give_effect_sizes_intervals_and_p_values(merged):
    table = pd.read_csv(merged["out"] / "tables" / "comparisons.csv")
    n32 = table[
        (table["model_a"] == "N32")
        & (table["model_b"] == "C32")
        & (table["score"] == "FID")
        & (table["direction"] == "A->B")
    ].iloc[0]
    ref = scipy_stats.ttest_ind(FID_N, FID_C, equal_var=False)
    assert n32["design"].startswith("equal total size") and (n32["n_a"], n32["n_b"]) == (5, 5)
    assert n32["p_welch"] == pytest.approx(ref.pvalue) and n32["welch_df"] == pytest.approx(ref.df)
    assert n32["diff"] == pytest.approx(np.mean(FID_N) - np.mean(FID_C)) and n32["p_permutation"] == pytest.approx(
        2 / 252
    )
    assert n32["verdict"].startswith("N32 has lower FID than C32") and n32["permutation"] == "exact, 252 relabellings"
    n64 = table[(table["model_a"] == "N64") & (table["score"] == "FID") & (table["direction"] == "A->B")].iloc[0]
    assert n64["verdict"].startswith("no significant difference in FID between N64 and C64 (Welch p=")
    # KID and FID in both directions, paired PSNR for A->B only.
    assert sorted(table.groupby(["model_a", "direction"])["score"].apply(sorted).map(tuple).unique()) == [
        ("FID", "KID"),
        ("FID", "KID", "PSNR"),
    ]
    markdown = (merged["out"] / "tables" / "comparisons.md").read_text()
    assert "Welch's unequal-variance t-test" in markdown and "no significant difference" in markdown


def test_results_table_shows_baselines_and_floors_next_to_the_models(merged):
    table = pd.read_csv(merged["out"] / "tables" / "results_with_baselines.csv")
    a2b = table[table["direction"] == "A->B"]
    assert a2b["name"].tolist() == [
        "C32",
        "C64",
        "N32",
        "N64",
        "baseline: identity (output = input)",
        "baseline: mean colour of the target domain",
        "ground truth (testA_true_B vs real testB)",
        "noise floor (real test half vs real test half)",
    ]
    identity = a2b[a2b["name"].str.startswith("baseline: identity")].iloc[0]
    assert [identity[c] for c in ("kid_mean", "fid_mean", "psnr_mean")] == pytest.approx([0.09, 90.0, 14.8])
    assert identity["kid_est_std"] == pytest.approx(0.09)  # identity_kid_a2b_std, same prefix value here
    n32 = a2b[a2b["name"] == "N32"].iloc[0]
    kid = [f / 1000 for f in FID_N]
    low, high = scipy_stats.t.interval(0.95, 4, loc=np.mean(kid), scale=scipy_stats.sem(kid))
    assert n32["n"] == 5 and (n32["kid_ci_low"], n32["kid_ci_high"]) == (pytest.approx(low), pytest.approx(high))
    assert n32["kid_scale"] == pytest.approx((0.09 - np.mean(kid)) / (0.09 - 0.002))
    assert n32["psnr_mean"] == pytest.approx(np.mean([30 - f / 10 for f in FID_N]))
    b2a = table[table["direction"] == "B->A"]
    assert not b2a["name"].str.startswith("ground truth").any() and b2a["psnr_mean"].isna().all()
    # The older table without baselines (the `built` report) still gets the table, without baseline rows.


def test_older_table_without_baseline_columns_gets_models_only(built):
    table = pd.read_csv(built["out"] / "tables" / "results_with_baselines.csv")
    assert (table["kind"] == "model").all() and len(table) > 10
    assert table["kid_scale"].isna().all()


def test_first_screen_answers_who_won_by_how_much_how_sure(merged):
    index = (merged["out"] / "index.html").read_text()
    glance, figures = index.index("Results at a glance"), index.index("<h2>Paper figures</h2>")
    first_img = index.index("<img")
    assert glance < index.index("noise floor (real test half") < index.index("no significant difference") < figures
    assert figures < first_img
    assert "KID is the primary distribution score" in index[:figures]
    assert "Holds 20 trial(s)" in index[:figures]


def test_single_trials_are_not_tested():
    from analysis.stats import compare, verdict

    single = compare([424.5], [480.6])
    assert np.isnan(single.welch.p) and np.isnan(single.permutation.p) and single.welch.diff == pytest.approx(-56.1)
    assert verdict("N2", "C2", "FID", single, True).startswith("not tested: N2 - C2 = -56.1 in mean FID")


def test_searched_discriminator_rows_are_their_own_model_and_run_dirs_follow_their_experiment(tmp_path):
    from analysis.load import load_tables

    exp = tmp_path / "runs" / "e1"
    (exp / "retrain" / "t0" / "run").mkdir(parents=True)
    rows = [
        retrain("fig5", "d", "N32", r, 40.0 + r, 50.0, 2_000_000, 2_100_000, run_dir="retrain/t0/run") for r in range(2)
    ]
    rows[1]["trial_id"] = "other"
    schema = SCHEMA.append(pa.field("discriminator", pa.string())).append(pa.field("experiment_uri", pa.string()))
    for row, kind in zip(rows, ("patchgan", "searched")):
        row.update(discriminator=kind, experiment_uri=str(exp))
    table = tmp_path / "elsewhere" / "all.parquet"  # a table collected from several folders lives apart from them
    table.parent.mkdir()
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), table)
    frame, _ = load_tables([table])
    assert sorted(frame["architecture"]) == ["N32", "N32 +searched D"]
    assert set(frame["run_dir"]) == {str(exp / "retrain" / "t0" / "run")}


def test_models_of_two_searches_expect_twice_the_trials_of_fixed_ones(tmp_path):
    """cpu_mini's layout: C once per repeat, N and C' once per repeat and search; complete means no gap."""
    rows = []
    for row in labelled_rows("fig5", FIG5, ("facades",), 3):
        if row["architecture"].startswith("C"):
            rows.append(row)
            continue
        for search in ("s0", "s1"):
            rows.append({**row, "search_trial_id": search, "trial_id": f"{row['trial_id']}-{search}"})
    complete = build_report(write_results(rows, tmp_path / "complete.parquet"), tmp_path / "complete").figures[0]
    assert complete.n_missing == 0 and "Incomplete" not in complete.caption
    # one N64 trial of search s1 lost: 1 of the 6 N64 trials, in both directions
    lost = [r for r in rows if not (r["architecture"] == "N64" and r["search_trial_id"] == "s1" and r["repeat"] == 2)]
    fig5 = build_report(write_results(lost, tmp_path / "lost.parquet"), tmp_path / "lost").figures[0]
    assert fig5.n_missing == 2
    missing = pd.read_csv(fig5.files.csv).query("kind == 'missing'")
    assert set(zip(missing["group"], missing["n"])) == {("N64", 1)}


def test_a_relative_runs_root_is_relative_to_the_working_directory(tmp_path, monkeypatch):
    """`--runs-root runs/x` as typed in a shell: samples are found there, not under the report's folder."""
    exp = tmp_path / "runs" / "x"
    write_sample(exp / "retrain" / "t0" / "run" / "samples" / "epoch_0003.png", 90)
    rows = [retrain("fig5", "d", "C32", 0, 40.0, 50.0, 2_000_000, 2_000_000, run_dir="retrain/t0/run")]
    table = tmp_path / "docs" / "x.parquet"
    table.parent.mkdir()
    write_results(rows, table)
    monkeypatch.chdir(tmp_path)
    report = build_report([Path("docs/x.parquet")], Path("docs/x"), runs_root="runs/x")
    assert len(report.samples) == 1 and report.samples[0][0].name.endswith("epoch_0003.png")
    assert (tmp_path / "docs" / "x" / "samples" / report.samples[0][0].name).is_file()


def test_a_report_rebuilt_from_the_same_table_is_the_same_files(tmp_path):
    """Committed reports (docs/results/) can be checked against a rebuild: no dates, no random SVG ids."""
    results = write_results(labelled_rows("fig5", FIG5, ("facades",), 2), tmp_path / "results.parquet")
    first, second = build_report(results, tmp_path / "a"), build_report(results, tmp_path / "b")
    files = sorted(p.relative_to(first.out_dir) for p in first.out_dir.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(second.out_dir) for p in second.out_dir.rglob("*") if p.is_file())
    assert any(p.suffix == ".svg" for p in files)
    for path in files:
        assert (first.out_dir / path).read_bytes() == (second.out_dir / path).read_bytes(), path
