"""`evaluate` never scores against a stale copy of the test images: the resized references follow their sources."""

import json
import shutil

import pytest
from conftest import make_cyclegan_layout, write_domain

from nasplatform.cli import main
from nasplatform.engine.config import RetrainConfig, apply_overrides, from_dict
from nasplatform.engine.retrain import run_retrain

pytestmark = pytest.mark.e2e  # a retrain, evaluated twice


def evaluate(run_dir, cache, capsys) -> dict:
    capsys.readouterr()
    assert main(["evaluate", str(run_dir), "--cache-dir", str(cache), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_replaced_test_images_change_the_scores(tmp_path, capsys):
    data = make_cyclegan_layout(tmp_path / "data" / "tiny", counts=(4, 4, 3, 3), size=32)
    cfg = apply_overrides(
        from_dict(RetrainConfig, {}),
        [
            f"data.root={data}",
            "hidden_dim=2",
            "ndf=4",
            "max_iters_per_epoch=1",
            "data.crop_size=32",
            "data.load_size=32",
            "n_epochs=1",
            "n_epochs_decay=0",
        ],
    )
    run_retrain(cfg, tmp_path / "run", progress=False)
    cache = tmp_path / "cache"
    first = evaluate(tmp_path / "run", cache, capsys)
    assert evaluate(tmp_path / "run", cache, capsys)["final"] == first["final"]  # unchanged data: same scores

    # other images under the same names, sizes and count: only their contents differ
    replacement = tmp_path / "other"
    write_domain(replacement, 3, 32, seed=99, tint=[1.2, 0.7, 0.5])
    for path in sorted((data / "testB").iterdir()):
        shutil.copyfile(replacement / path.name, path)
    second = evaluate(tmp_path / "run", cache, capsys)
    assert second["final"]["fid_a2b"] != first["final"]["fid_a2b"]
    assert second["final"]["fid_b2a"] != first["final"]["fid_b2a"]  # G_B translates the new testB too
    keys = second["reference_keys"]
    assert keys["testB"]["sources_sha256"] != first["reference_keys"]["testB"]["sources_sha256"]
    assert keys["testA"] == first["reference_keys"]["testA"] and keys["testB"]["size"] == 32
    written = json.loads((tmp_path / "run" / "evaluation.json").read_text())
    assert written["reference_keys"] == keys
